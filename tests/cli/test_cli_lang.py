"""`--lang zh|en`: headers, titles and labels in Chinese or English; Chinese by default on a Chinese locale."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli_lang import CHINESE, Language, label, locale_language, set_language

runner = CliRunner()


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, Language.zh),
        ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, Language.zh),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, Language.en),
        ({"LANG": "C.UTF-8"}, Language.en),
        ({}, Language.en),
        ({"FUNDLEDGER_LANG": "zh", "LANG": "en_US.UTF-8"}, Language.zh),
    ],
)
def test_the_default_language_follows_the_locale(environment, expected):
    assert locale_language(environment) is expected


def test_labels_translate_templates_but_never_the_codes_filled_in():
    set_language(Language.zh)
    try:
        assert label("accounts of {book}", book="total") == "total 科目余额"
        assert label("not in the catalogue") == "not in the catalogue"
    finally:
        set_language(Language.en)
    assert label("accounts of {book}", book="gz") == "accounts of gz"


def test_every_template_keeps_its_fields_in_chinese():
    for english, chinese in CHINESE.items():
        assert sorted(part.split("}")[0] for part in english.split("{")[1:]) == sorted(
            part.split("}")[0] for part in chinese.split("{")[1:]
        ), english


@pytest.fixture
def cli(database_url, engine):
    def invoke(*arguments, locale="C.UTF-8"):
        environment = {"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "120", "LANG": locale, "LC_ALL": ""}
        result = runner.invoke(app, [*arguments], env=environment)
        assert result.exit_code == 0, result.output
        return result.output

    invoke("book", "create", "gz")
    invoke("account", "open", "gz", "Assets:Bank")
    return invoke


def test_tables_speak_the_chosen_language_and_machine_formats_do_not(cli):
    chinese = cli("--lang", "zh", "trial-balance")
    assert "试算平衡表" in chinese and "借方" in chinese and "贷方" in chinese and "科目" in chinese
    english = cli("--lang", "en", "trial-balance", locale="zh_CN.UTF-8")
    assert "trial balance of every book" in english and "debit" in english and "借方" not in english
    assert "余额" in cli("account", "list", locale="zh_CN.UTF-8")  # the Chinese locale's default
    assert "balance" in cli("account", "list")
    assert cli("--lang", "zh", "trial-balance", "--format", "csv").splitlines()[0] == (
        "book,account,type,currency,debit,credit"
    )
    assert json.loads(cli("--lang", "zh", "account", "list", "--format", "json"))[0]["account"] == "Assets:Bank"
