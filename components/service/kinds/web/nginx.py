"""The nginx configuration of the web kind, rendered from its spec."""

from __future__ import annotations

import math

from settings.service.kinds.web import WebSpec
from settings.types import quantity_value

NGINX_HEALTH_PATH = "/nginx-health"
"""nginx's liveness: answered by nginx alone, so an app outage never restarts it."""
NGINX_READY_PATH = "/nginx-ready"
"""nginx's readiness: the app's liveness endpoint through nginx's upstream, so a pod
whose nginx cannot reach its app (a wrong port) never takes traffic."""


def worker_processes(settings: WebSpec) -> int:
    """One worker per CPU the container requests, rounded up. `auto` would count
    the node's CPUs ("the number of available CPU cores ... the value auto will
    try to autodetect it", nginx.org xml/en/docs/ngx_core_module.xml,
    worker_processes), not the container's share. There is no CPU limit by
    design, so the request is the container's size."""
    return max(1, math.ceil(quantity_value(settings.nginx.resources.cpu)))


def render_nginx_conf(settings: WebSpec) -> str:
    """nginx as a reverse proxy to the app on localhost, writing only to /tmp.

    Stopping: the image's STOPSIGNAL is SIGQUIT (nginxinc/docker-nginx-unprivileged
    mainline/alpine-slim/Dockerfile), nginx's graceful shutdown: listeners close,
    in-flight requests finish (nginx.org xml/en/docs/control.xml, "QUIT graceful shutdown").

    Client address: only a peer in trustedProxyCidrs (the ingress controller) may
    set it, from the last X-Forwarded-For entry (nginx.org
    xml/en/docs/http/ngx_http_realip_module.xml: set_real_ip_from, real_ip_header;
    real_ip_recursive stays off). The app gets that one address, never a list a
    client wrote. Protocol: the ingress terminates TLS, so its X-Forwarded-Proto
    is kept; anything but http/https falls back to our own $scheme (map strings
    match ignoring case, xml/en/docs/http/ngx_http_map_module.xml)."""
    trusted = "\n".join(f"  set_real_ip_from {cidr};" for cidr in settings.nginx.trusted_proxy_cidrs)
    return f"""worker_processes {worker_processes(settings)};
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

{trusted}
  real_ip_header X-Forwarded-For;

  map $http_x_forwarded_proto $forwarded_proto {{
    default $scheme;
    http    http;
    https   https;
  }}

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

    location = {NGINX_READY_PATH} {{
      access_log off;
      proxy_pass http://app{settings.app.probes.liveness_path};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}

    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $forwarded_proto;
      proxy_set_header X-Request-Id $request_id;
    }}
  }}
}}
"""
