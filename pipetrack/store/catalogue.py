"""Store operations that list and search the catalogue: filters, sorting, paging (CLI and UI)."""
from __future__ import annotations


class CatalogueOperations:
    """Listings of tasks, projects, pipelines and queues (mixed into ``TaskStore``)."""
