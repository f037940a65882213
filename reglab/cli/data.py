"""``reglab data {where,verify,download}``: find, verify or download Fashion-MNIST."""

from __future__ import annotations

import argparse

from .common import EXIT_FAILED, EXIT_OK, Subparsers, error

__all__ = ["add_data_parser", "cmd_data"]


def add_data_parser(sub: Subparsers) -> argparse.ArgumentParser:
    data = sub.add_parser("data", help="find, verify or download Fashion-MNIST")
    data.add_argument("action", choices=["where", "verify", "download"])
    data.add_argument("--root", default=None, help="a folder to look in first")
    return data


def cmd_data(args: argparse.Namespace) -> int:
    """Do the data action; return the exit code."""
    from ..data import fashion_mnist as fm

    if args.action == "where":
        files = fm.find_fashion_mnist(args.root)
        if files is None:
            return error(fm._not_found_message(args.root, None), EXIT_FAILED)
        print(files["train_images"].parent)
        return EXIT_OK
    if args.action == "download":
        paths = fm.download_fashion_mnist(progress=True)
        print(paths["train_images"].parent)
        return EXIT_OK
    data = fm.load_fashion_mnist(args.root)
    print(
        f"Fashion-MNIST OK in {data.source}: {len(data.train_labels)} training and "
        f"{len(data.test_labels)} test images, SHA-256 verified"
    )
    return EXIT_OK
