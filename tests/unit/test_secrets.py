"""Credentials at rest: the Fernet vault, key rotation, and where the key comes from (env or a 0600 file)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mirrorcal.errors import SecretsError
from mirrorcal.secrets import KEY_ENV, Vault, default_key_file, load_vault

SECRET = "1//0refresh-token-ÉLAN-✓"


def test_round_trip_and_tokens_are_not_the_text() -> None:
    vault = Vault(Fernet.generate_key())
    token = vault.encrypt(SECRET)
    assert SECRET not in token and token.isascii()
    assert vault.decrypt(token) == SECRET
    assert vault.encrypt(SECRET) != token  # random IV: equal secrets do not look equal


def test_wrong_key_is_a_clear_error_without_the_secret() -> None:
    token = Vault(Fernet.generate_key()).encrypt(SECRET)
    other_key = Fernet.generate_key()
    with pytest.raises(SecretsError, match="key does not match") as info:
        Vault(other_key).decrypt(token)
    assert SECRET not in str(info.value) and other_key.decode() not in str(info.value)


def test_damaged_token_is_a_secrets_error() -> None:
    vault = Vault(Fernet.generate_key())
    with pytest.raises(SecretsError):
        vault.decrypt("not a token ✗")
    token = vault.encrypt(SECRET)
    with pytest.raises(SecretsError):
        vault.decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))


@pytest.mark.parametrize("key", [b"", b"short", "x" * 44, b"not base64 at all!!"])
def test_malformed_key_is_refused_without_echoing_it(key: bytes | str) -> None:
    with pytest.raises(SecretsError, match="not a Fernet key") as info:
        Vault(key)
    if key:
        assert str(key if isinstance(key, str) else key.decode()) not in str(info.value)


def test_rotation_reads_old_tokens_and_writes_with_the_new_key() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    old_token = Vault(old).encrypt(SECRET)
    both = Vault([new, old])
    assert both.decrypt(old_token) == SECRET
    rotated = both.rotate(old_token)
    assert Vault(new).decrypt(rotated) == SECRET
    with pytest.raises(SecretsError):
        Vault(old).decrypt(both.encrypt(SECRET))
    with pytest.raises(SecretsError):
        Vault(new).decrypt(old_token)


# --------------------------------------------------------------------------- load_vault


def test_key_from_the_environment_wins_and_no_file_is_made(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    key_file = tmp_path / "keys" / "secret.key"
    vault = load_vault({KEY_ENV: key.decode()}, key_file)
    assert Vault(key).decrypt(vault.encrypt(SECRET)) == SECRET
    assert not key_file.exists()


def test_environment_key_beats_an_existing_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    from_file = load_vault({}, key_file)
    env_key = Fernet.generate_key()
    from_env = load_vault({KEY_ENV: f" {env_key.decode()} "}, key_file)
    token = from_env.encrypt(SECRET)
    assert Vault(env_key).decrypt(token) == SECRET
    with pytest.raises(SecretsError):
        from_file.decrypt(token)


def test_environment_may_name_several_keys_for_rotation(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    vault = load_vault({KEY_ENV: f"{new.decode()},{old.decode()}"}, tmp_path / "k")
    assert vault.decrypt(Vault(old).encrypt(SECRET)) == SECRET
    assert Vault(new).decrypt(vault.encrypt(SECRET)) == SECRET


def test_malformed_environment_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match=f"^{KEY_ENV}: .*not a Fernet key") as info:
        load_vault({KEY_ENV: "hunter2"}, tmp_path / "k")
    assert "hunter2" not in str(info.value)


def test_key_file_is_created_0600_in_a_new_directory_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "deep" / "er" / "secret.key"
    first = load_vault({}, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) & 0o077 == 0
    Fernet(key_file.read_bytes().strip())  # holds one valid key
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no temporary left behind
    again = load_vault({}, key_file)
    assert again.decrypt(first.encrypt(SECRET)) == SECRET


def test_key_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_vault({}, tmp_path / "secret.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(Fernet.generate_key() + b"\n")
    key_file.chmod(mode)
    with pytest.raises(SecretsError, match="accessible to group or others") as info:
        load_vault({}, key_file)
    assert f"{mode:04o}" in str(info.value) and "chmod 600" in str(info.value)


def test_key_file_with_several_keys_rotates(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(new + b"\n" + old + b"\n")
    key_file.chmod(0o600)
    vault = load_vault({}, key_file)
    assert vault.decrypt(Vault(old).encrypt(SECRET)) == SECRET
    assert Vault(new).decrypt(vault.encrypt(SECRET)) == SECRET


def test_garbage_key_file_is_a_clear_error(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text("my password\n")
    key_file.chmod(0o600)
    with pytest.raises(SecretsError, match="secret.key: .*not a Fernet key") as info:
        load_vault({}, key_file)
    assert "my password" not in str(info.value)


def test_key_file_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SecretsError, match="cannot"):
        load_vault({}, blocker / "secret.key")


_RACER = """
import os, sys, time
from pathlib import Path
from mirrorcal.secrets import load_vault
go, key_file = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():
    time.sleep(0.0005)
print(load_vault({}, key_file).encrypt("same secret"))
"""


def test_concurrent_first_use_from_several_processes_makes_one_key(tmp_path: Path) -> None:
    go = tmp_path / "go"
    rounds = 5
    procs = []
    for n in range(rounds):
        key_file = tmp_path / f"round{n}" / "secret.key"
        for _ in range(4):
            procs.append(
                (
                    key_file,
                    subprocess.Popen(
                        [sys.executable, "-c", _RACER, str(go), str(key_file)],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
    time.sleep(0.5)  # let the interpreters start and wait for the signal
    go.touch()
    for key_file, proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        key = key_file.read_bytes()
        assert len(key.split()) == 1
        assert Vault(key.strip()).decrypt(out.strip()) == "same secret"
    for n in range(rounds):
        assert sorted(p.name for p in (tmp_path / f"round{n}").iterdir()) == ["secret.key"]


def test_default_key_file_sits_next_to_the_sqlite_database(tmp_path: Path) -> None:
    assert default_key_file(f"sqlite:///{tmp_path / 'state' / 'db.sqlite'}") == tmp_path / "state" / "secret.key"
    elsewhere = default_key_file("postgresql+psycopg://u@127.0.0.1/db")
    assert elsewhere.name == "secret.key" and "mirrorcal" in str(elsewhere)
    assert default_key_file("sqlite://") == default_key_file(None) == elsewhere


def test_a_key_file_made_meanwhile_by_another_process_is_kept(tmp_path: Path) -> None:
    from mirrorcal.secrets import _create_key_file

    key_file = tmp_path / "secret.key"
    theirs = Fernet.generate_key() + b"\n"
    key_file.write_bytes(theirs)
    key_file.chmod(0o600)
    _create_key_file(key_file)  # lost the race: must neither overwrite nor leave a temporary
    assert key_file.read_bytes() == theirs
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
