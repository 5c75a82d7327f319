"""The allow-list of challenge images (BUNKHOUSE_CHALLENGE_IMAGES): only these are started,
and each entry gives the image's ports and health check where a caller gives none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bunkhouse.core.errors import BadRequest


class ImageListError(ValueError):
    """The allow-list file is missing or invalid: its path and the entry are named."""


@dataclass(frozen=True)
class AllowedImage:
    image: str
    ports: tuple[int, ...] = ()
    health_check_path: str | None = None
    # A folder of the project the image is built from when the engine lacks it.
    build: str | None = None


@dataclass(frozen=True)
class AllowList:
    images: dict[str, AllowedImage]

    def get(self, image: str, *, field: str = "config.image") -> AllowedImage:
        """The entry of `image`, or a 400 naming the field: nothing else is ever started."""
        entry = self.images.get(image)
        if entry is None:
            raise BadRequest(f"image {image!r} is not on the operator's allow-list of challenge images",
                             code="image_not_allowed", field=field, allowed=sorted(self.images))
        return entry

    @classmethod
    def load(cls, path: Path) -> AllowList:
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ImageListError(f"{path}: {error}") from None
        items = document.get("images") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise ImageListError(f"{path}: needs a list `images`")
        images = {}
        for number, item in enumerate(items, 1):
            where = f"{path}: images[{number}]"
            if not isinstance(item, dict) or not isinstance(item.get("image"), str) or not item["image"]:
                raise ImageListError(f"{where}: needs `image`")
            ports = item.get("ports") or []
            if not isinstance(ports, list) or not all(isinstance(p, int) and 1 <= p <= 65535 for p in ports):
                raise ImageListError(f"{where}.ports: a list of ports (1-65535)")
            path_value = item.get("health_check_path")
            if path_value is not None and (not isinstance(path_value, str) or not path_value.startswith("/")):
                raise ImageListError(f"{where}.health_check_path: a path that starts with /")
            unknown = set(item) - {"image", "ports", "health_check_path", "build"}
            if unknown:
                raise ImageListError(f"{where}: unknown field {sorted(unknown)[0]}")
            if item["image"] in images:
                raise ImageListError(f"{where}: {item['image']} is listed twice")
            images[item["image"]] = AllowedImage(item["image"], tuple(ports), path_value, item.get("build"))
        return cls(images)
