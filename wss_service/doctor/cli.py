"""
The command line: C{wss-doctor URL [options]}. Exit status 0 when nothing
failed, 1 when a check did, 2 for a usage error.
"""

import argparse
import os
import sys

from wss_service.doctor.checks import Target, UsageError, diagnose
from wss_service.doctor.report import asJSON, asText, failed


def positive(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"takes a number of seconds above 0, not {text!r}")
    return value


def readable(path):
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read {path!r}; give a PEM file of CA "
                                         f"certificates")
    return path


def parser():
    p = argparse.ArgumentParser(
        prog="wss-doctor",
        description="Say why a browser or WeChat mini program cannot connect to a ws:// or "
                    "wss:// URL, and what to change.")
    p.add_argument("url", help="the URL clients use, e.g. wss://example.com/wss")
    p.add_argument("--ca", type=readable, help="also trust the CA certificates in this PEM file")
    p.add_argument("--origin", help="send this Origin, as a page on it would "
                                    "(e.g. https://example.com)")
    p.add_argument("--idle", type=positive, metavar="SECONDS",
                   help="stay silent this long and report whether something cuts the connection")
    p.add_argument("--wechat", action="store_true", help="also roll up WeChat's rules")
    p.add_argument("--send", metavar="TEXT", help="send this message and show the answer")
    p.add_argument("--timeout", type=positive, default=10.0, metavar="S",
                   help="seconds for each network step (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object, for scripts")
    return p


def main(argv=None):
    p = parser()
    arguments = p.parse_args(argv)
    try:
        target = Target(arguments.url, ca=arguments.ca, origin=arguments.origin,
                        idle=arguments.idle, wechat=arguments.wechat, timeout=arguments.timeout,
                        send=arguments.send)
    except UsageError as e:
        p.exit(2, f"wss-doctor: {e}\n")
    results = diagnose(target)
    print(asJSON(arguments.url, results) if arguments.json else asText(results))
    sys.stdout.flush()
    return 1 if failed(results) else 0
