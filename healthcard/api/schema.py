"""drf-spectacular: describe the terminal Bearer token in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TerminalAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "healthcard.api.authentication.TerminalAuthentication"
    name = "terminalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Terminal token `hct_<prefix>_<secret>`, shown once when made.",
        }
