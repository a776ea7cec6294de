from __future__ import annotations

import pytest

from mbre.errors import InputError, SettingError
from mbre.graph.context import MbreContext
from mbre.llm.providers import ProviderError, chat_model, is_loopback, parse_spec
from mbre.llm.settings import ModelSettings
from mbre.run.config import from_environment, load_context


def test_precedence_file_env_flags(tmp_path, monkeypatch):
    config = tmp_path / "mbre.toml"
    config.write_text('model = "openai:gpt-4o-mini"\nepsilon = 0.05\nstrategy = "binary"\n')
    monkeypatch.setenv("MBRE_EPSILON", "0.02")
    ctx = load_context(config, strategy="multiclass", decision=None)
    assert (ctx.model, ctx.epsilon, ctx.strategy, ctx.decision) == (
        "openai:gpt-4o-mini",
        0.02,
        "multiclass",
        "calibrated",
    )


def test_unknown_setting_names_file_line_and_field(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('model = "local"\n\nepsilonn = 0.1\n')
    with pytest.raises(
        InputError, match=r"mbre.toml:3: field 'epsilonn': unknown setting; did you mean 'epsilon'\?"
    ):
        load_context(config)
    config.write_text("colour = 1\n")
    with pytest.raises(InputError, match=r"field 'colour': unknown setting; known: model, "):
        load_context(config)


def test_bad_value_names_the_field(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('strategy = "fastest"\n')
    with pytest.raises(
        InputError, match=r"mbre.toml:1: field 'strategy': must be 'mbre', 'multiclass' or 'binary'"
    ):
        load_context(config)


def test_api_keys_are_refused_in_config_files(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('model = "openai:gpt-4o"\napi_key = "sk-live-123"\n')
    with pytest.raises(InputError) as info:
        load_context(config)
    assert "sk-live-123" not in str(info.value) and "environment variable" in str(info.value)


def test_environment_values_are_typed():
    settings = from_environment(
        {"MBRE_ROUTE_TOP_K": "2", "MBRE_LOGPROBS": "false", "MBRE_MAX_VERIFICATIONS": "none"}
    )
    assert settings == {"route_top_k": 2, "logprobs": False, "max_verifications": None}
    with pytest.raises(InputError, match="environment variable MBRE_EPSILON: field 'epsilon'"):
        from_environment({"MBRE_EPSILON": "small"})


def test_provider_specs():
    assert parse_spec("local") == ("local", "")
    assert parse_spec("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    # Every provider string of init_chat_model, with its dashed spelling too.
    assert parse_spec("anthropic:claude-haiku-4-5") == ("anthropic", "claude-haiku-4-5")
    assert parse_spec("google-genai:gemini-2.5-flash") == ("google_genai", "gemini-2.5-flash")
    with pytest.raises(ProviderError, match=r"unknown model provider 'antropic'.*anthropic, google_genai"):
        parse_spec("antropic:claude")
    with pytest.raises(ProviderError, match="names no model"):
        parse_spec("anthropic:")
    with pytest.raises(ProviderError, match="names no model"):
        parse_spec("openai:")


def test_openai_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ProviderError, match="set the environment variable MY_KEY"):
        chat_model(ModelSettings(model="openai:gpt-4o-mini", api_key_env="MY_KEY"))
    monkeypatch.setenv("MY_KEY", "sk-test-secret")
    model = chat_model(
        ModelSettings(model="openai:gpt-4o-mini", api_key_env="MY_KEY", base_url="http://10.1.1.1/v1")
    )
    assert model.openai_api_key.get_secret_value() == "sk-test-secret"
    assert "sk-test-secret" not in repr(model)


def test_loopback_detection():
    assert is_loopback("http://127.0.0.1:8080/v1") and is_loopback("http://localhost:1/v1")
    assert is_loopback("http://[::1]:80/v1")
    assert not is_loopback("https://api.openai.com/v1") and not is_loopback(None)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"epsilon": 2.0}, "--epsilon 2.0: must be less than or equal to 1"),
        ({"epsilon": -1.0}, "--epsilon -1.0: must be greater than or equal to 0"),
        ({"epsilon": float("nan")}, "--epsilon nan: must be a finite number"),
        ({"route_top_k": 0}, "--route-top-k 0: must be greater than or equal to 1"),
        ({"strategy": "foo"}, "--strategy foo: must be 'mbre', 'multiclass' or 'binary'"),
    ],
)
def test_bad_flags_are_refused_by_their_name(flags, message):
    with pytest.raises(SettingError) as info:
        load_context(None, **flags)
    assert str(info.value) == message


def test_the_same_bounds_hold_in_the_file_the_environment_and_python(tmp_path, monkeypatch):
    config = tmp_path / "mbre.toml"
    config.write_text('model = "local"\nroute_top_k = 0\n')
    with pytest.raises(InputError) as info:
        load_context(config)
    assert str(info.value) == f"{config}:2: field 'route_top_k': must be greater than or equal to 1"
    monkeypatch.setenv("MBRE_EPSILON", "nan")
    with pytest.raises(InputError) as info:
        load_context(None)
    assert str(info.value) == "environment variable MBRE_EPSILON: field 'epsilon': must be a finite number"
    with pytest.raises(SettingError, match="setting 'max_tokens': must be greater than or equal to 1, not 0"):
        MbreContext(max_tokens=0)
    with pytest.raises(SettingError, match="setting 'timeout': must be greater than 0, not -1"):
        ModelSettings(timeout=-1)
    assert MbreContext(epsilon=1).epsilon == 1.0 and isinstance(MbreContext(epsilon=1).epsilon, float)
