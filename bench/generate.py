"""Generate large cmail master databases for the benchmark, straight through sqlite3 (fast).

Shape per N users: N users over N/100 domains, 2N address rules (one store rule per user, one
per-user redirect alias, and a catch-all per domain at low order), an smtpd row per user, a popd
row for every second user, an alias every 50th user, a delegate per 10k users managing 100 users
and one domain, and a master mail for every tenth user.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.db import create_master

CACHE = Path(os.environ.get("CMAIL_BENCH_CACHE", Path.home() / ".cache" / "cmail-console-bench"))
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def name(i: int) -> str:
    return f"user{i:07d}"


def domain(i: int) -> str:
    return f"d{i // 100:05d}.example"


def authdata(i: int) -> str:
    salt = f"s{i:09d}"
    return f"{salt}:{hashlib.sha256((salt + name(i)).encode()).hexdigest()}"


def generate(path: Path, users: int) -> None:
    create_master(str(path))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    with db:
        db.executemany(
            "INSERT INTO users (user_name, user_authdata) VALUES (?, ?)",
            ((name(i), authdata(i)) for i in range(users)),
        )
        db.executemany(
            "UPDATE users SET user_alias = ? WHERE user_name = ?",
            ((name(i - 1), name(i)) for i in range(50, users, 50)),
        )
        domains = sorted({domain(i) for i in range(users)})
        # Catch-alls first, so that they get the lowest orders, as an admin would set them up.
        db.executemany(
            "INSERT INTO addresses (address_expression, address_router, address_route) "
            "VALUES (?, 'redirect', 'postmaster@(to-domain)')",
            ((f"%@{d}",) for d in domains),
        )
        db.executemany(
            "INSERT INTO addresses (address_expression, address_router, address_route) "
            "VALUES (?, 'store', ?)",
            ((f"{name(i)}@{domain(i)}", name(i)) for i in range(users)),
        )
        db.executemany(
            "INSERT INTO addresses (address_expression, address_router, address_route) "
            "VALUES (?, 'redirect', ?)",
            (
                (f"{name(i)}.alias@{domain(i)}", f"{name(i)}@{domain(i)}")
                for i in range(users - len(domains))
            ),
        )
        db.executemany(
            "INSERT INTO smtpd (smtpd_user, smtpd_router) VALUES (?, 'defined')",
            ((name(i),) for i in range(users)),
        )
        db.executemany(
            "INSERT INTO popd (pop_user, pop_lock) VALUES (?, ?)",
            ((name(i), int(i % 1000 == 0)) for i in range(0, users, 2)),
        )
        delegates = range(0, users, 10_000)
        db.executemany(
            "INSERT INTO api_access (api_user, api_permission) VALUES (?, 'delegate')",
            ((name(i),) for i in delegates),
        )
        db.executemany(
            "INSERT INTO api_user_delegates (api_user, api_delegate) VALUES (?, ?)",
            ((name(d), name(d + k)) for d in delegates for k in range(1, 101) if d + k < users),
        )
        db.executemany(
            "INSERT INTO api_address_delegates (api_user, api_expression) VALUES (?, ?)",
            ((name(d), f"%@{domain(d)}") for d in delegates),
        )
        db.execute("INSERT INTO api_access VALUES ('user0000001', 'admin')")
        db.executemany(
            "INSERT INTO mailbox (mail_user, mail_envelopeto, mail_envelopefrom, "
            "mail_submission, mail_data) VALUES (?, ?, 'sender@remote.example', '1700000000', ?)",
            (
                (name(i), f"{name(i)}@{domain(i)}", b"Subject: hello\r\n\r\nbody\r\n")
                for i in range(0, users, 10)
            ),
        )
    db.close()


def database(size: str) -> Path:
    """The cached database for a size label, generated on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"master-{size}.db3"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        generate(partial, SIZES[size])
        partial.rename(path)
    return path


if __name__ == "__main__":
    for label in sys.argv[1:] or list(SIZES):
        print(database(label))
