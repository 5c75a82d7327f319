# ruff: noqa
"""Seed 004's Python client (../shared/seeds/004_*.txt, "Python Client"), copied as the seed
wrote it: the integration tests run it against bunkhouse unchanged (they only put a token on
its session's headers, which the seed's client leaves to its user)."""

import requests
import time
from typing import Dict, Any

class ContainerClient:
    """Python client for Container Management API."""
    
    def __init__(self, base_url: str = "http://localhost:8000"):
        self.base_url = base_url
        self.session = requests.Session()
    
    def prepare_profile(self, profile_id: str, force_restart: bool = False) -> Dict[str, Any]:
        """Prepare containers for a profile."""
        response = self.session.post(
            f"{self.base_url}/api/v1/containers/prepare",
            json={"profile_id": profile_id, "force_restart": force_restart}
        )
        response.raise_for_status()
        return response.json()
    
    def wait_for_profile(self, profile_id: str, timeout: int = 300) -> bool:
        """Wait for all profile containers to be ready."""
        start_time = time.time()
        
        while time.time() - start_time < timeout:
            response = self.session.get(
                f"{self.base_url}/api/v1/containers/status/{profile_id}"
            )
            response.raise_for_status()
            
            data = response.json()
            if data["ready"]:
                return True
            
            time.sleep(2)
        
        return False
    
    def start_container(self, container_name: str) -> Dict[str, Any]:
        """Start a specific container."""
        response = self.session.post(
            f"{self.base_url}/api/v1/containers/start",
            json={"container_name": container_name}
        )
        response.raise_for_status()
        return response.json()
    
    def get_metrics(self) -> Dict[str, Any]:
        """Get orchestrator metrics."""
        response = self.session.get(f"{self.base_url}/api/v1/containers/metrics")
        response.raise_for_status()
        return response.json()
