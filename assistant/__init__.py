"""Chat and retrieval assistant over integration-policy documents, with verified citations."""

__version__ = "0.1.0"
