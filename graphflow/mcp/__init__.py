"""MCP: the tools of Model Context Protocol servers as graph nodes, and workflows as MCP tools.

    from graphflow.mcp import McpServer, McpToolbox
    box = McpToolbox({
        "files": McpServer.stdio(["python", "files_server.py"], env={"ROOT": "data"}),
        "search": McpServer.http("http://127.0.0.1:8931/mcp", headers={"Authorization": "..."}),
    })
    async with box.session():            # one session per server, for the block
        g.add("read", box["files.read_file"], args={"path": "notes.txt"})
        result = await graphflow.run(g)

or ``run(g, resources=[box.session()])`` for a session that lasts one run.
A YAML workflow's ``mcp:`` key builds the same toolbox. ``load_served`` and
``serve_stdio`` / ``serve_http`` (``graphflow mcp serve``) offer workflows
as MCP tools.

Needs the official SDK: ``pip install 'graphflow[mcp]'``. It is imported only
when a session opens or a server starts, so this package imports without it.
"""

from ._errors import TRANSPORT_ERRORS as TRANSPORT_ERRORS
from ._errors import McpConnectError as McpConnectError
from ._errors import McpNotConnectedError as McpNotConnectedError
from ._errors import McpTimeoutError as McpTimeoutError
from ._errors import McpToolError as McpToolError
from ._errors import McpTransportError as McpTransportError
from ._serve import load_served as load_served
from ._serve import serve_http as serve_http
from ._serve import serve_stdio as serve_stdio
from ._servers import CONNECT_TIMEOUT as CONNECT_TIMEOUT
from ._servers import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._servers import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._servers import McpServer as McpServer
from ._toolbox import McpSession as McpSession
from ._toolbox import McpToolbox as McpToolbox

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "McpConnectError",
    "McpNotConnectedError",
    "McpServer",
    "McpSession",
    "McpTimeoutError",
    "McpToolError",
    "McpToolbox",
    "McpTransportError",
    "TRANSPORT_ERRORS",
    "load_served",
    "serve_http",
    "serve_stdio",
]
