"""The command line of ``likavillkor-collector broker-credentials`` (:mod:`collector.auth.broker`):
its argument parser, built in groups (inputs, broker addresses, the devices' files, users)."""

from __future__ import annotations

import argparse

from collector.auth.broker_passwords import COLLECTOR_USER
from likavillkor.topics import ROOT


def build_parser(prog: str = "likavillkor-collector broker-credentials") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Generate Mosquitto's password and ACL files and each "
        "device's credentials from the roster. Existing passwords are kept.",
    )
    _add_inputs(p)
    _add_brokers(p)
    _add_device_files(p)
    _add_users(p)
    return p


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--roster", required=True, help="the roster TOML (meetings, participants, [[device]])")
    p.add_argument("--out", required=True, help="output directory (see docs/operations.md)")
    p.add_argument("--bodies", default="", help="a body table replacing the shipped one (H22)")


def _add_brokers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mqtt-url",
        required=True,
        help="broker URL written into the devices' files, "
        "e.g. mqtts://likavillkor.kommun.se:8883 (the name in the broker's certificate)",
    )
    p.add_argument("--collector-mqtt-url", default="", help="broker URL for the collector (default: --mqtt-url)")
    p.add_argument(
        "--other-mqtt-url",
        action="append",
        default=[],
        metavar="URL",
        help="a second (third ...) broker, e.g. mqtts://mqtt-b.kommun.se:8883 (repeatable; issue 17): devices "
        "get [mqtt] brokers, the collector [mqtt] urls; the same broker files serve every broker",
    )
    p.add_argument(
        "--topic-root",
        default=ROOT,
        help=f"the topic root of this municipality (default {ROOT}; e.g. lv/solna on a shared broker)",
    )
    p.add_argument("--ca-file", default="", help="CA file path on the devices (empty: system trust store)")
    p.add_argument("--collector-ca-file", default="", help="CA file path for the collector (default: --ca-file)")
    p.add_argument(
        "--broker-dir",
        default="",
        help="where the broker reads DIR/broker from (default: its absolute path here; Compose: /mosquitto/auth)",
    )


def _add_device_files(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--collector-url",
        default="",
        help="the collector's HTTPS address on the devices, with the "
        "port (default: https://<the --mqtt-url host>:8860)",
    )
    p.add_argument(
        "--reflector",
        default="",
        metavar="HOST:PORT",
        help="the UDP reflector for the path probes (default: the collector's host, port 8862)",
    )
    p.add_argument(
        "--windows-bundles",
        default="",
        metavar="DIR",
        help="also write DIR/<device id>/agent.toml (+ ca.crt) for deploy/windows/install-agent.ps1 (Windows paths)",
    )
    p.add_argument(
        "--bundle-ca",
        default="",
        metavar="PEM",
        help="the CA copied into every Windows bundle (devices that do not trust the municipality's internal CA)",
    )


def _add_users(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collector-user", default=COLLECTOR_USER)
    p.add_argument(
        "--other-collector-user",
        action="append",
        default=[],
        metavar="NAME",
        help="a second collector's broker user, e.g. likavillkor-collector-b (repeatable; issue 17): its "
        "[mqtt] section goes to DIR/collector-mqtt-NAME.toml",
    )
    p.add_argument("--group", default="", help="chgrp the broker files to this group (e.g. mosquitto)")
    p.add_argument("--rotate", action="store_true", help="issue new passwords to everyone")
    p.add_argument(
        "--rotate-device",
        action="append",
        default=[],
        metavar="ID",
        help="issue a new password to this device (repeatable), e.g. a lost tablet",
    )
