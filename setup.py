import os

from setuptools import Extension, find_packages, setup

# The compiled short road for frames and TLS layer's OpenSSL calls: built
# where a C compiler and Python's headers exist, skipped (the pure-Python
# roads serve) where not, or when WSS_SERVICE_PURE_PYTHON=1.
compiled = [] if os.environ.get("WSS_SERVICE_PURE_PYTHON") == "1" else [
    Extension(name, [f"wss_service/fastpaths/{name}.c"], optional=True)
    for name in ("_wss_frames", "_wss_tls")]

setup(
    name="wss-service",
    version="0.1.0",
    description="WebSocket over TLS (wss) service: a twistd plugin with Autobahn",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["wss_service", "wss_service.*"]) + ["twisted.plugins"],
    # The ranges the tests cover: .ci/run runs them on the newest releases
    # and again on each floor (autobahn 26.7.1 is the first to bound what a
    # compressed message inflates to; pyOpenSSL 24.3 the first to take
    # cryptography's keys).
    install_requires=[
        "twisted>=24.7,<27",
        "autobahn>=26.7.1,<27",
        "pyopenssl>=24.3,<27",
        "service-identity>=24.1,<27",
        "cryptography>=42,<51",
        "prometheus-client>=0.17,<1",
        "certifi>=2024.2.2",
        "txredisapi>=1.6,<2",
        "hiredis>=3.0",
        "pyjwt>=2.8,<3",
    ],
    ext_modules=compiled,
    entry_points={"console_scripts": ["wss-doctor = wss_service.doctor.cli:main"]},
    extras_require={
        "test": ["websockets>=13", "hypothesis>=6", "setuptools>=70.1"],
        "bench": ["websockets>=13", "matplotlib>=3.7", "channels>=4", "daphne>=4",
                  "channels-redis>=4", "picows>=1.9", "uvloop>=0.19"],
    },
)
