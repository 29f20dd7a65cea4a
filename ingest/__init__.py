"""Ingestion: loaders, chunking, the pipeline, and the ``rag`` command line."""
