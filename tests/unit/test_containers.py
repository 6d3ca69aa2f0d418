"""The container description matches the code: rendered files are current, every command is a real
entry point, every mounted config exists and passes ``nats-server -t``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import yaml

from shared import containers, plugins
from shared.cli import DEFAULT_SITES
from shared.natsserver import nats_server_binary

ROOT = Path(__file__).resolve().parents[2]


def test_committed_files_are_what_the_code_renders(tmp_path: Path) -> None:
    for path in containers.render(tmp_path, DEFAULT_SITES, plugins.services()):
        committed = ROOT / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed} missing: run `aidmesh deploy render`"
        assert committed.read_text() == path.read_text(), (
            f"{committed} is stale: run `aidmesh deploy render`"
        )


def _compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_container_command_is_a_real_entry_point() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    ours = [s for s in services.values() if s["image"] == containers.APP_IMAGE]
    assert ours
    for service in ours:
        command = service["command"]
        assert command[:2] == ["python", "-m"], command
        module = command[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{module} is not importable"
        if spec.submodule_search_locations:  # a package runs its __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, module
        else:
            source = Path(spec.origin or "").read_text()
            assert 'if __name__ == "__main__":' in source, f"{module} has no main"
    dockerfile = ROOT / "deploy" / "Dockerfile"
    assert dockerfile.exists()


def test_every_service_runs_where_it_belongs() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    for launch in plugins.services():
        for site in ["hub", *DEFAULT_SITES]:
            assert (f"{launch.name}-{site}" in services) == launch.runs_at(site)
    for site in DEFAULT_SITES:
        assert f"site-{site}" in services
        assert f"link-{site}" in services
        assert f"sync-{site}" in services


def test_every_service_keeps_its_keys_in_a_named_volume() -> None:
    """Its vault's master key, data keys and read models: the image's anonymous volume is left
    behind by ``docker compose down``, and the next ``up`` would start with new keys."""
    compose = _compose()
    services, volumes = compose["services"], compose["volumes"]
    assert isinstance(services, dict) and isinstance(volumes, dict)
    for launch in plugins.services():
        for site in ["hub", *DEFAULT_SITES]:
            if launch.runs_at(site):
                name = f"{launch.name}-{site}"
                assert services[name]["volumes"] == [f"{name}-var:/var/aidmesh"]
                assert f"{name}-var" in volumes


def test_every_mounted_config_exists_and_parses() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    env = {
        **os.environ,
        "APP_PASSWORD": "a",
        "LOCAL_PASSWORD": "l",
        "HUB_LEAF_URL": "nats-leaf://dili:x@link-dili:7422",
    }
    env |= {f"LEAF_PASSWORD_{containers.env_name(s)}": "x" for s in DEFAULT_SITES}
    checked = 0
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("./"):
                continue  # a named data volume
            path = ROOT / source
            assert path.exists(), f"{source} is mounted but missing"
            result = subprocess.run(
                [nats_server_binary(), "-t", "-c", str(path)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            checked += 1
    assert checked == 1 + len(DEFAULT_SITES)
