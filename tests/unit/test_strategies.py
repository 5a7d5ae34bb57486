"""Campaign strategies per segment, name overrides and the baseline, from TOML."""

import pytest
from pydantic import ValidationError

from models.exceptions import ConfigError
from models.strategies import DEFAULT_STRATEGIES, FALLBACK_STRATEGY, Baseline, Strategy, StrategyConfig
from segmentation.exceptions import SegmenterError

ENTERPRISE_TOML = """
[strategies."High-Value Enterprise"]
channel = "Personal outreach"
message = "Premium features, ROI case studies"
sales_resource = "Senior Account Executive"
expected_close_rate = "45%"
avg_deal_size = "$50,000"
"""


def test_the_tutorials_percent_and_dollar_strings_are_read_as_numbers() -> None:
    config = StrategyConfig.from_toml(ENTERPRISE_TOML)
    strategy = config.strategies["High-Value Enterprise"]
    assert strategy.expected_close_rate == 0.45
    assert strategy.avg_deal_size == 50_000.0
    assert strategy == DEFAULT_STRATEGIES["High-Value Enterprise"]


@pytest.mark.parametrize(
    ("rate", "deal", "expected"),
    [
        ('"8%"', '"$500"', (0.08, 500.0)),
        ('" 62 % "', '"5,000"', (0.62, 5000.0)),
        ("0.34", "15000", (0.34, 15000.0)),
        ('"0.28"', '"$12,000.50"', (0.28, 12000.5)),
        ('"100%"', '"$0"', (1.0, 0.0)),
    ],
)
def test_numbers_may_be_written_several_ways(rate: str, deal: str, expected: tuple[float, float]) -> None:
    text = f"""
[strategies.X]
channel = "c"
message = "m"
sales_resource = "r"
expected_close_rate = {rate}
avg_deal_size = {deal}
"""
    strategy = StrategyConfig.from_toml(text).strategies["X"]
    assert (strategy.expected_close_rate, strategy.avg_deal_size) == pytest.approx(expected)


def test_the_default_table_is_the_tutorials() -> None:
    table = {
        name: (s.channel, s.sales_resource, s.expected_close_rate, s.avg_deal_size)
        for name, s in DEFAULT_STRATEGIES.items()
    }
    assert table == {
        "High-Value Enterprise": ("Personal outreach", "Senior Account Executive", 0.45, 50_000),
        "SMB Quick Closers": ("Email + Demo", "Inside Sales Rep", 0.62, 5_000),
        "Tire Kickers": ("Automated drip", "None (automated)", 0.08, 500),
        "Mid-Market Nurture": ("Multi-touch", "Account Executive", 0.34, 15_000),
        "Churn Risk": ("Personal call", "Customer Success Manager", 0.28, 12_000),
    }


def test_an_empty_file_gives_the_tutorials_defaults() -> None:
    config = StrategyConfig.from_toml("")
    assert config.strategies == {}
    assert config.names == {}
    assert config.baseline == Baseline(conversion_rate=0.23, avg_deal_size=12_000)
    assert config.fallback == FALLBACK_STRATEGY
    assert config.strategy_for("Churn Risk") == DEFAULT_STRATEGIES["Churn Risk"]


def test_a_configured_strategy_overrides_the_default_for_that_name_only() -> None:
    config = StrategyConfig.from_toml(ENTERPRISE_TOML.replace('"45%"', '"50%"'))
    assert config.strategy_for("High-Value Enterprise").expected_close_rate == 0.5
    assert config.strategy_for("Tire Kickers") == DEFAULT_STRATEGIES["Tire Kickers"]


def test_unknown_names_get_the_fallback_strategy() -> None:
    config = StrategyConfig()
    assert config.strategy_for("High pricing-page visits, low company size") == FALLBACK_STRATEGY
    assert (FALLBACK_STRATEGY.expected_close_rate, FALLBACK_STRATEGY.avg_deal_size) == (0.23, 12_000)


def test_the_fallback_can_be_configured() -> None:
    config = StrategyConfig.from_toml(
        '[fallback]\nchannel = "Email"\nmessage = "Hello"\nsales_resource = "Bot"\n'
        'expected_close_rate = "1%"\navg_deal_size = "$10"\n'
    )
    assert config.strategy_for("Anything") == Strategy(
        channel="Email", message="Hello", sales_resource="Bot", expected_close_rate=0.01, avg_deal_size=10
    )


def test_names_are_overridden_by_segment_id() -> None:
    config = StrategyConfig.from_toml('[names]\n0 = "Key Accounts"\n3 = "Nurture"\n')
    assert config.names == {0: "Key Accounts", 3: "Nurture"}
    assert config.name_for(0, "High-Value Enterprise") == "Key Accounts"
    assert config.name_for(3, "Mid-Market Nurture") == "Nurture"
    assert config.name_for(1, "SMB Quick Closers") == "SMB Quick Closers"


def test_the_baseline_is_read_with_percent_and_dollars() -> None:
    config = StrategyConfig.from_toml('[baseline]\nconversion_rate = "20%"\navg_deal_size = "$10,000"\n')
    assert config.baseline == Baseline(conversion_rate=0.2, avg_deal_size=10_000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('colour = "red"\n', "strategies file: colour: Extra inputs are not permitted"),
        ("[baseline]\nbudget = 5\n", "strategies file: baseline.budget: Extra inputs are not permitted"),
        (
            ENTERPRISE_TOML + 'owner = "me"\n',
            "strategies file: strategies.High-Value Enterprise.owner: Extra inputs are not permitted",
        ),
        (
            ENTERPRISE_TOML.replace('"45%"', '"145%"'),
            "strategies file: strategies.High-Value Enterprise.expected_close_rate: "
            "Input should be less than or equal to 1",
        ),
        (
            ENTERPRISE_TOML.replace('"$50,000"', '"lots"'),
            "strategies file: strategies.High-Value Enterprise.avg_deal_size: "
            "Value error, could not convert string to float: 'lots'",
        ),
        (
            ENTERPRISE_TOML.replace('channel = "Personal outreach"\n', ""),
            "strategies file: strategies.High-Value Enterprise.channel: Field required",
        ),
        ('[names]\nfirst = "VIP"\n', "strategies file: names.first.[key]: Input should be a valid integer"),
        ('[names]\n0 = ""\n', "strategies file: names.0: String should have at least 1 character"),
        ('[baseline]\nconversion_rate = "-5%"\n', "strategies file: baseline.conversion_rate: Input should be greater"),
    ],
)
def test_bad_files_are_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StrategyConfig.from_toml(text)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, SegmenterError)
    assert isinstance(caught.value, ValueError)


def test_invalid_toml_is_refused_with_the_parsers_reason() -> None:
    with pytest.raises(ConfigError, match=r"^strategies file is not valid TOML: .*line 1"):
        StrategyConfig.from_toml("[strategies\n")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e13])
def test_money_must_be_finite_and_bounded(value: float) -> None:
    with pytest.raises(ValidationError, match="avg_deal_size"):
        Strategy(channel="c", message="m", sales_resource="r", expected_close_rate=0.1, avg_deal_size=value)


def test_strategies_are_immutable() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        FALLBACK_STRATEGY.channel = "Fax"  # type: ignore[misc]


def test_the_baseline_is_a_full_campaign_with_defaults_and_reads_older_files() -> None:
    full = StrategyConfig.from_toml(
        '[baseline]\nchannel = "Webinar"\nmessage = "Hello"\nsales_resource = "SDR"\n'
        'expected_close_rate = "19%"\navg_deal_size = 9000\n'
    ).baseline
    assert full.strategy == Strategy(
        channel="Webinar", message="Hello", sales_resource="SDR", expected_close_rate=0.19, avg_deal_size=9000
    )
    older = StrategyConfig.from_toml('[baseline]\nconversion_rate = "20%"\navg_deal_size = "$10,000"\n').baseline
    assert older.strategy == FALLBACK_STRATEGY.model_copy(update={"expected_close_rate": 0.2, "avg_deal_size": 10_000})
    assert Baseline.model_validate_json(older.model_dump_json()) == older  # as a model file stores it
    # A default campaign is stored as before the campaign fields, so a worker from before them reads the model.
    assert older.model_dump() == {"conversion_rate": 0.2, "avg_deal_size": 10_000}
    assert Baseline.model_validate_json(full.model_dump_json()) == full
