from setuptools import find_packages, setup

setup(
    name="wss-service",
    version="0.1.0",
    description="WebSocket over TLS (wss) service: a twistd plugin with Autobahn",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["wss_service", "wss_service.*"]) + ["twisted.plugins"],
    install_requires=[
        "twisted>=24.7",
        "autobahn>=24.4",
        "pyopenssl>=24.0",
        "service-identity>=24.1",
        "cryptography>=42",
        "prometheus-client>=0.17",
    ],
    extras_require={
        "test": ["websockets>=13", "hypothesis>=6", "setuptools>=70.1"],
        "bench": ["websockets>=13", "matplotlib>=3.7"],
    },
)
