"""Retrievers for LLM frameworks over a running ``rag serve``, through ``rag.client``.

``rag.integrations.langchain.RagRetriever`` (extra ``langchain``) and
``rag.integrations.llamaindex.RagRetriever`` (extra ``llamaindex``). Each module imports its framework;
this package imports neither.
"""
