"""The one scheduler of the deployment (in its primary process); each product registers its jobs."""
