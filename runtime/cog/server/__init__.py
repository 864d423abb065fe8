"""The HTTP server (`python -m cog.server.http`) and the worker process that runs model code."""
