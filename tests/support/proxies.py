"""
Real nginx and Apache in front of the service, from the contrib/ sites,
rendered for loopback, high ports and a temporary folder.
"""

import os
import subprocess

from tests.support.binaries import requireBinary
from tests.support.contrib import render
from tests.support.service import stopProcess, temporaryDirectory, waitForPort

FULLCHAIN = "/etc/letsencrypt/live/example.com/fullchain.pem"
PRIVKEY = "/etc/letsencrypt/live/example.com/privkey.pem"
BACKEND = "127.0.0.1:8282"
MODULES = "/usr/lib/apache2/modules"


class Proxy:
    """A proxy process, stopped when the test ends."""

    def __init__(self, testCase, command, port, errorLog):
        self.errorLog = errorLog
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(errorLog + ".stderr", "w"),
        )
        testCase.addCleanup(self.stop)
        try:
            waitForPort(port, process=self.process)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log()}") from None

    def log(self):
        text = ""
        for path in (self.errorLog, self.errorLog + ".stderr"):
            if os.path.exists(path):
                with open(path) as f:
                    text += f.read()
        return text

    def stop(self):
        stopProcess(self.process)


def nginx(testCase, port, backendPort, pki, edits=None):
    """nginx with the contrib site; C{edits} breaks it the way a user might."""
    binary = requireBinary("nginx")
    directory = temporaryDirectory(testCase)
    site = render("nginx/wss.conf", {
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "listen [::]:443 ssl;": "",
        FULLCHAIN: pki.path("fullchain.pem"),
        PRIVKEY: pki.path("server.key"),
        BACKEND: f"127.0.0.1:{backendPort}",
        **(edits or {}),
    })
    temps = "\n".join(
        f"    {kind}_temp_path {directory}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
{temps}
{site}
}}
"""
    with open(os.path.join(directory, "nginx.conf"), "w") as f:
        f.write(main)
    errorLog = os.path.join(directory, "error.log")
    return Proxy(testCase, [binary, "-p", directory, "-c", f"{directory}/nginx.conf",
                            "-e", errorLog], port, errorLog)


def apache(testCase, port, backendPort, pki):
    binary = requireBinary("apache2")
    directory = temporaryDirectory(testCase)
    site = render("apache/wss.conf", {
        "<VirtualHost *:443>": f"<VirtualHost 127.0.0.1:{port}>",
        FULLCHAIN: pki.path("fullchain.pem"),
        PRIVKEY: pki.path("server.key"),
        f"ws://{BACKEND}/wss": f"ws://127.0.0.1:{backendPort}/wss",
    })
    modules = "\n".join(
        f"LoadModule {name}_module {MODULES}/mod_{name}.so"
        for name in ("mpm_event", "authz_core", "ssl", "socache_shmcb", "headers",
                     "proxy", "proxy_http", "proxy_wstunnel")
    )
    # Apache will not serve as root; it drops to www-data after binding.
    user = "User www-data\nGroup www-data" if os.getuid() == 0 else ""
    errorLog = os.path.join(directory, "error.log")
    main = f"""
ServerRoot {directory}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {directory}/httpd.pid
DefaultRuntimeDir {directory}
Mutex file:{directory} default
ErrorLog {errorLog}
LogLevel warn
{modules}
{user}
{site}
"""
    with open(os.path.join(directory, "httpd.conf"), "w") as f:
        f.write(main)
    return Proxy(testCase, [binary, "-X", "-d", directory, "-f", f"{directory}/httpd.conf"],
                 port, errorLog)
