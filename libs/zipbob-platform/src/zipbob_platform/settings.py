"""Layered configuration: YAML files per service and profile, then environment variables.

Order (later wins): ``application.yaml``, ``application-<profile>.yaml``, ``<service>.yaml``,
``<service>-<profile>.yaml``, then ``ZIPBOB_<SECTION>__<KEY>``, then the same scoped to one
service, ``ZIPBOB_<SERVICE>_<SECTION>__<KEY>`` (``ZIPBOB_CATALOG_DATABASE__URL`` reaches the
catalog only: for one environment serving several services, as ``make run`` does; a
container serves one service and may use the unscoped form), and ``ZIPBOB_<SERVICE>_PORT``.
YAML strings may hold Spring-style placeholders ``${ENV_VAR:default}``.

Secrets follow features: in ``dev``/``prod`` a service requires the secrets of the sections
its configuration uses (``ServiceSettings.unused_sections`` names the others), and
``describe_secrets`` says which at start-up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .sections import (
    AuthSettings,
    LoggingSettings,
    Section,
    ServerSettings,
    SqlSettings,
    TracingSettings,
)

__all__ = [
    "AuthSettings",
    "ConfigError",
    "MigrationSettings",
    "Section",
    "ServiceSettings",
    "describe_secrets",
    "load_settings",
    "required_secrets",
]

PROFILES = ("local", "test", "dev", "prod")
RELAXED_PROFILES = ("local", "test")  # profiles allowed to run with built-in dev secrets
ENV_PREFIX = "ZIPBOB_"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
# Secret values that ship in the repo for local use and must never reach dev or prod.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "minioadmin"})


class ConfigError(SystemExit):
    """Raised when configuration is invalid; exits with a readable message instead of a trace."""

    def __init__(self, service: str, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"[{service}] refusing to start, invalid configuration:\n{lines}")
        self.problems = problems


class ServiceSettings(BaseModel):
    """Settings every service has; services subclass this with their own sections."""

    model_config = ConfigDict(extra="forbid")

    service: str
    profile: str = Field("local", pattern="^(local|test|dev|prod)$")
    data_dir: str = "./.zipbob"
    server: ServerSettings = ServerSettings()
    logging: LoggingSettings = LoggingSettings()
    tracing: TracingSettings = TracingSettings()
    auth: AuthSettings = AuthSettings()

    @property
    def relaxed(self) -> bool:
        return self.profile in RELAXED_PROFILES

    def unused_sections(self) -> dict[str, str]:
        """Sections (dotted paths) this configuration turns off, each with the reason: their
        secrets are not required. Services override it; the default uses every section."""
        return {}


class MigrationSettings(ServiceSettings):
    """What a migrate Job loads: the database section alone. The service's other sections
    in the same files are ignored, so the Job runs with nothing but the database URL."""

    model_config = ConfigDict(extra="ignore")

    database: SqlSettings = SqlSettings()


S = TypeVar("S", bound=ServiceSettings)


def find_config_dir(env: dict[str, str] | None = None) -> Path:
    explicit = (os.environ if env is None else env).get("ZIPBOB_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "config" / "application.yaml").is_file():
            return folder / "config"
    return here / "config"


def _resolve_placeholders(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        # Resolve innermost placeholders first so defaults may themselves hold placeholders.
        previous = None
        while previous != value:
            previous = value
            value = _PLACEHOLDER.sub(lambda m: env.get(m.group(1), m.group(2) or ""), value)
        return value
    if isinstance(value, dict):
        return {k: _resolve_placeholders(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_placeholders(v, env) for v in value]
    return value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path.stem, [f"{path}: not valid YAML: {exc}"]) from None
    if not isinstance(loaded, dict):
        raise ConfigError(path.stem, [f"{path}: top level must be a mapping"])
    return loaded


def _env_overrides(
    service: str, env: dict[str, str], model: type[BaseModel] | None
) -> dict[str, Any]:
    """Variables naming keys this service does not have are ignored, so one environment
    (a compose file, a shared Secret, the launcher's) can serve every service. Files are
    still checked strictly. Scoped names (``ZIPBOB_<SERVICE>_…``) win over unscoped ones."""
    scoped_prefix = f"{ENV_PREFIX}{service.upper()}_"
    unscoped: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        target, rest = unscoped, name[len(ENV_PREFIX) :]
        if name.startswith(scoped_prefix) and name[len(scoped_prefix) :][:1] != "_":
            target, rest = scoped, name[len(scoped_prefix) :]
        path = [part.lower() for part in rest.split("__")]
        if model is not None and not _model_has_path(model, path):
            continue
        node = target
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = value
    overrides = deep_merge(unscoped, scoped)
    port = env.get(f"{ENV_PREFIX}{service.upper()}_PORT")
    if port:
        overrides = deep_merge(overrides, {"server": {"port": port}})
    return overrides


def env_names(service: str, path: str) -> str:
    """The variables that set ``path`` (``database.url``) for ``service``."""
    key = path.upper().replace(".", "__")
    return f"{ENV_PREFIX}{key} or {ENV_PREFIX}{service.upper()}_{key}"


def _model_has_path(model: type[BaseModel], path: list[str]) -> bool:
    """Whether ``a.b.c`` names a field of ``model`` (mapping fields accept any key)."""
    annotation: Any = model
    for part in path:
        if get_origin(annotation) in (Union, UnionType):  # `Section | None`
            nested = [a for a in get_args(annotation) if a is not type(None)]
            annotation = nested[0] if len(nested) == 1 else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return False
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return False  # a scalar or list cannot have sub-keys
    return True


def load_raw_config(
    service: str,
    *,
    profile: str | None = None,
    env: dict[str, str] | None = None,
    model: type[BaseModel] | None = None,
) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    profile = profile or env.get("ZIPBOB_PROFILE", "local")
    folder = find_config_dir(env)
    merged: dict[str, Any] = {}
    for name in ("application", f"application-{profile}", service, f"{service}-{profile}"):
        merged = deep_merge(merged, _read_yaml(folder / f"{name}.yaml"))
    merged = _resolve_placeholders(merged, env)
    merged = deep_merge(merged, _env_overrides(service, env, model))
    if "ZIPBOB_DATA_DIR" in env:
        merged["data_dir"] = env["ZIPBOB_DATA_DIR"]
    merged["service"] = service
    merged["profile"] = profile
    return merged


def _secret_paths(settings: BaseModel, path: str = "") -> list[str]:
    paths = []
    for name, value in settings:
        where = f"{path}{name}"
        if isinstance(value, SecretStr):
            paths.append(where)
        elif isinstance(value, BaseModel):
            paths.extend(_secret_paths(value, f"{where}."))
    return paths


def _section_unused(settings: BaseModel) -> dict[str, str]:
    """What the sections themselves turn off (a section with ``unused_parts()``, like
    event_auth: the signing key only in signed mode), as dotted paths."""
    unused: dict[str, str] = {}
    for name, value in settings:
        parts = getattr(value, "unused_parts", None)
        if isinstance(value, BaseModel) and callable(parts):
            unused |= {f"{name}.{part}": reason for part, reason in parts().items()}
    return unused


def _unused_reason(settings: ServiceSettings, path: str, require: Sequence[str] = ()) -> str | None:
    for section, reason in {**_section_unused(settings), **settings.unused_sections()}.items():
        if section in require:
            continue
        if path == section or path.startswith(section + "."):
            return reason
    return None


def required_secrets(settings: ServiceSettings, *, require: Sequence[str] = ()) -> list[str]:
    """Dotted paths of the secrets this configuration needs (the features it turns on);
    ``require`` names sections needed whatever the configuration says (an entry point
    that always uses them, like the dispatcher and RabbitMQ)."""
    return [p for p in _secret_paths(settings) if _unused_reason(settings, p, require) is None]


def describe_secrets(settings: ServiceSettings, *, require: Sequence[str] = ()) -> str:
    """One line for the start-up log: which secrets are required, which are not and why."""
    required = required_secrets(settings, require=require)
    unused = [
        f"{path} ({reason})"
        for path in _secret_paths(settings)
        if (reason := _unused_reason(settings, path, require)) is not None
    ]
    line = f"secrets required: {', '.join(required) or 'none'}"
    if unused:
        line += f"; not required: {', '.join(unused)}"
    return line


def _secret_problems(settings: ServiceSettings, require: Sequence[str]) -> list[str]:
    problems = []
    for where in required_secrets(settings, require=require):
        value: Any = settings
        for part in where.split("."):
            value = getattr(value, part)
        if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            problems.append(
                f"{where}: secret missing or a placeholder; set "
                f"{env_names(settings.service, where)}"
            )
    return problems


def load_settings(
    service: str,
    model: type[S],
    *,
    profile: str | None = None,
    env: dict[str, str] | None = None,
    require: Sequence[str] = (),
) -> S:
    """Load, validate and return the settings of ``service``; raise ConfigError when invalid
    (in ``dev``/``prod``, also when a secret of a section in use is missing)."""
    raw = load_raw_config(service, profile=profile, env=env, model=model)
    if raw["profile"] not in PROFILES:
        raise ConfigError(service, [f"profile {raw['profile']!r} is not one of {PROFILES}"])
    try:
        settings = model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(service, problems) from None
    if not settings.relaxed:
        problems = _secret_problems(settings, require)
        if problems:
            raise ConfigError(service, problems)
    return settings
