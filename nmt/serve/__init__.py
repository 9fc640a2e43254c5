"""`nmt serve`: translation over HTTP, concurrent requests decoded together (the optional extra `serve`)."""
