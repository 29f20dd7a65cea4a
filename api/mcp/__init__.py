"""The MCP server: ``server`` (tools), ``http`` (``/mcp`` in ``rag serve``), ``stdio`` (``rag mcp``)."""
