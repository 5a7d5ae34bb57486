"""docker-compose.yml, the Dockerfile and docs/deploy.md agree with the code and with each other.

Nothing here starts Docker: these are the checks that can be made on the files themselves (services,
start order, settings names, listeners, the scripts embedded in the compose file).
"""

import re
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from models.settings import Settings

yaml = pytest.importorskip("yaml")  # PyYAML: a dev dependency, see pyproject.toml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

SETTINGS_VARIABLES = {"SEGMENTER_" + name.upper() for name in Settings.model_fields}
SEGMENTER_VARIABLE = re.compile(r"\bSEGMENTER_[A-Z0-9_]*[A-Z0-9]\b")
# ${NAME}, ${NAME:-default}, ${NAME-default}; $$ is a literal $.
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """Compose's variable substitution on every string value, with `env` as the shell (empty by default)."""
    env = env or {}
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, default = match["name"], match["op"], match["default"] or ""
        if name in env and (env[name] or op != ":-"):
            return env[name]
        assert op is not None, f"${{{name}}} has no default: `docker compose up` would need it set"
        return default

    assert not re.search(r"\$[{A-Za-z_]", INTERPOLATION.sub("", value)), f"unsupported substitution in {value!r}"
    return INTERPOLATION.sub(substitute, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The compose file as `docker compose up` sees it with no variables set."""
    result: dict[str, Any] = interpolate(raw)
    return result


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # KEY=VALUE form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):  # short form: service_started
        return dict.fromkeys(deps, "service_started")
    return {name: spec["condition"] for name, spec in deps.items()}


def kafka_listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` as {NAME: (host, port)}."""
    found = {}
    for entry in value.split(","):
        name, _, address = entry.strip().partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


def test_the_four_services_exist(services: dict[str, Any]) -> None:
    assert set(services) == {"kafka", "redis", "worker", "init-model"}


@pytest.mark.parametrize("name", ["kafka", "redis", "worker"])
def test_long_running_services_have_a_real_healthcheck(services: dict[str, Any], name: str) -> None:
    check = services[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert not check.get("disable", False)
    test = check["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, test
    assert test[1:] != ["true"] and "exit 0" not in " ".join(test)


def test_start_order_kafka_and_redis_then_worker_then_init_model(services: dict[str, Any]) -> None:
    assert depends_on(services["kafka"]) == {}
    assert depends_on(services["redis"]) == {}
    assert depends_on(services["worker"]) == {"kafka": "service_healthy", "redis": "service_healthy"}
    # The worker is healthy (ready) only once a model is served, which init-model publishes: it waits for the
    # worker's topics itself (`segmenter publish` announces on the models topic, which the worker creates).
    assert depends_on(services["init-model"]) == {"worker": "service_started"}


def test_init_model_is_a_one_shot_job_that_generates_fits_and_publishes(services: dict[str, Any]) -> None:
    init = services["init-model"]
    assert init.get("restart", "no") == "no"
    # The image's ENTRYPOINT is `segmenter`: a shell script has to replace it, not follow it.
    assert init["entrypoint"] == ["sh", "-c"]
    script = init["command"][0] if isinstance(init["command"], list) else init["command"]
    steps = [
        "segmenter generate --n 5000 --out /tmp/leads.csv",
        "segmenter fit /tmp/leads.csv --model-out /tmp/model.json --quiet",
        "segmenter publish /tmp/model.json",
    ]
    positions = [script.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "set -e" in script  # a failed step stops the job with its status
    assert init["image"] == services["worker"]["image"]  # built once, by the worker service


def test_embedded_shell_script_parses(services: dict[str, Any]) -> None:
    script = services["init-model"]["command"][0]
    result = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_embedded_python_compiles_and_uses_the_project_code(services: dict[str, Any]) -> None:
    health = services["worker"]["healthcheck"]["test"]
    assert health[:3] == ["CMD", "python", "-c"]
    compile(health[3], "worker healthcheck", "exec")
    port = environment(services["worker"])["SEGMENTER_WEB_PORT"]
    assert f"http://127.0.0.1:{port}/readyz" in health[3]  # ready: a model, the group, Kafka and Redis
    script = services["init-model"]["command"][0]
    heredoc = re.search(r"<<'PY'\n(.*?)\nPY\n", script, re.S)
    assert heredoc, "init-model's Python check is a <<'PY' heredoc"
    compile(heredoc[1], "init-model check", "exec")
    assert "topic_layout(settings)" in heredoc[1]  # waits for the worker's own topics, models topic included


def test_every_segmenter_variable_in_the_compose_file_is_a_setting() -> None:
    used = set(SEGMENTER_VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    assert used, "the compose file configures the worker through SEGMENTER_* variables"
    assert used <= SETTINGS_VARIABLES, sorted(used - SETTINGS_VARIABLES)


@pytest.mark.parametrize("name", ["worker", "init-model"])
def test_app_containers_are_configured_only_through_valid_settings(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(services[name])
    assert set(env) <= SETTINGS_VARIABLES, sorted(set(env) - SETTINGS_VARIABLES)
    for key in SETTINGS_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # the values validate, as the worker would read them
    assert settings.replication_factor == 1  # a single broker


def test_worker_bootstraps_from_the_kafka_internal_listener(services: dict[str, Any]) -> None:
    kafka = environment(services["kafka"])
    advertised = kafka_listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    internal = [(host, port) for host, port in advertised.values() if host == "kafka"]
    assert len(internal) == 1, advertised
    host, port = internal[0]
    assert environment(services["worker"])["SEGMENTER_KAFKA_BOOTSTRAP"] == f"{host}:{port}"
    assert "hostname" not in services["kafka"] or services["kafka"]["hostname"] == "kafka"


def test_kafka_is_a_single_kraft_node_with_consistent_listeners(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[0] == node
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    listeners = kafka_listeners(env["KAFKA_LISTENERS"])
    advertised = kafka_listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(entry.split(":") for entry in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) <= set(protocols)
    assert controller in listeners and controller not in advertised  # brokers advertise, controllers don't
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert set(advertised) <= set(listeners)
    voter_host, _, voter_port = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[1].rpartition(":")
    assert voter_host == "kafka" and int(voter_port) == listeners[controller][1]
    # Any listener advertised beside the internal one is for the host: published on the advertised port.
    published = {int(target): int(host_port) for *_, host_port, target in (p.rsplit(":", 2) for p in kafka["ports"])}
    for name, (_host, port) in advertised.items():
        if name != env["KAFKA_INTER_BROKER_LISTENER_NAME"]:
            assert published.get(listeners[name][1]) == port, (name, published)
    # One broker: its internal topics cannot have more replicas.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"


def test_host_port_can_be_moved_and_stays_consistent(raw: dict[str, Any]) -> None:
    env = environment(interpolate(raw, {"KAFKA_HOST_PORT": "39092"})["services"]["kafka"])
    assert kafka_listeners(env["KAFKA_ADVERTISED_LISTENERS"])["HOST"] == ("localhost", 39092)
    assert interpolate(raw, {"KAFKA_HOST_PORT": "39092"})["services"]["kafka"]["ports"] == ["127.0.0.1:39092:29092"]


def test_kafka_leaves_topic_creation_to_the_worker(services: dict[str, Any]) -> None:
    assert environment(services["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_kafka_image_is_a_pinned_apache_kafka_4(services: dict[str, Any]) -> None:
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", services["kafka"]["image"]), services["kafka"]["image"]


def test_kafka_image_is_the_version_ci_tests_against(services: dict[str, Any]) -> None:
    pom = ROOT / ".ci" / "kafka" / "pom.xml"
    if not pom.exists():
        pytest.skip("no .ci/kafka/pom.xml")
    version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text(encoding="utf-8"))
    assert version, "kafka.version in .ci/kafka/pom.xml"
    assert services["kafka"]["image"] == f"apache/kafka:{version[1]}"


def test_redis_requires_the_password_the_worker_uses(raw: dict[str, Any]) -> None:
    password = "s3cret-Pa55_word"
    services = interpolate(raw, {"REDIS_PASSWORD": password})["services"]
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[command.index("--requirepass") + 1] == password
    assert environment(redis)["REDISCLI_AUTH"] == password  # the healthcheck authenticates
    assert "PONG" in " ".join(redis["healthcheck"]["test"])  # NOAUTH also exits 0
    assert environment(services["worker"])["SEGMENTER_REDIS_URL"] == f"redis://:{password}@redis:6379/0"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka_dirs = environment(services["kafka"])["KAFKA_LOG_DIRS"]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in services["kafka"]["volumes"]}
    assert kafka_dirs in mounted.values()
    assert set(mounted) | {v.split(":")[0] for v in services["redis"]["volumes"]} <= set(compose["volumes"])


def test_worker_can_be_scaled(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker  # a fixed name allows one container
    # A fixed host port allows one container: the HTTP port is published on loopback at a port Docker picks.
    assert worker.get("ports", []) == ["127.0.0.1::6066"]
    env = environment(worker)
    assert env["SEGMENTER_WEB_PORT"] == "6066" and env["SEGMENTER_WEB_HOST"] == "0.0.0.0"
    assert env["SEGMENTER_WEB_TOKEN"] == ""  # none unless the operator sets SEGMENTER_WEB_TOKEN
    assert "SEGMENTER_APP_ID" not in environment(worker) or environment(worker)["SEGMENTER_APP_ID"]
    assert worker.get("command", ["worker"]) == ["worker"]


def test_worker_is_built_from_the_repository_dockerfile(services: dict[str, Any]) -> None:
    build = services["worker"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert context == "." and dockerfile == "Dockerfile"
    assert DOCKERFILE.exists()


def test_dockerfile_installs_the_project_without_extras_and_runs_segmenter() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert stages and all(stage == "python:3.11-slim" for stage in stages), stages
    assert 'ENTRYPOINT ["segmenter"]' in lines
    assert 'CMD ["worker"]' in lines
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert not re.search(r"\[(dev|local)", text), "the image gets no dev or local extras"


def test_dockerfile_copies_every_package_the_project_ships() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    text = DOCKERFILE.read_text(encoding="utf-8")
    for package in packages:
        assert re.search(rf"^COPY {package}/ ", text, re.M), f"Dockerfile does not copy {package}/"
    assert pyproject["project"]["readme"] in text  # pip needs the readme to build the wheel


def test_dockerignore_keeps_local_state_out_but_not_the_sources() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    ignored.discard("")
    assert {".venv", ".git", "demo-output", ".pytest_cache", ".hypothesis"} <= ignored
    needed = {"pyproject.toml", "README.md", "segmentation", "models", "streams", "segmenter"}
    assert not needed & ignored


def test_deploy_doc_names_only_real_settings() -> None:
    used = set(SEGMENTER_VARIABLE.findall(DEPLOY_DOC.read_text(encoding="utf-8")))
    assert used, "docs/deploy.md shows how to configure the worker"
    assert used <= SETTINGS_VARIABLES, sorted(used - SETTINGS_VARIABLES)
