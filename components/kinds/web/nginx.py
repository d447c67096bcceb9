"""The nginx configuration of the web kind, rendered from its spec."""

from __future__ import annotations

from components.kinds.web.spec import WebSpec

NGINX_HEALTH_PATH = "/nginx-health"


def render_nginx_conf(settings: WebSpec) -> str:
    """nginx as a reverse proxy to the app on localhost, writing only to /tmp."""
    return f"""worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;

events {{
  worker_connections 1024;
}}

http {{
  client_body_temp_path /tmp/client_temp;
  proxy_temp_path /tmp/proxy_temp;
  fastcgi_temp_path /tmp/fastcgi_temp;
  uwsgi_temp_path /tmp/uwsgi_temp;
  scgi_temp_path /tmp/scgi_temp;
  access_log /dev/stdout;
  server_tokens off;
  client_max_body_size {settings.nginx.client_max_body_size};

  upstream app {{
    server 127.0.0.1:{settings.app.port};
    keepalive 16;
  }}

  server {{
    listen {settings.nginx.port};

    location = {NGINX_HEALTH_PATH} {{
      access_log off;
      return 200 "ok\\n";
    }}

    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $request_id;
    }}
  }}
}}
"""
