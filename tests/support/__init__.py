"""Helpers shared by the tests: certificates, processes, proxies, browser."""
