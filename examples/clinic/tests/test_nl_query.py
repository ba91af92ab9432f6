import polars as pl
import pytest
from clinic.nl_query import Filter, NLQueryParser, QueryParseError, answer, explain, parse_reply


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "How many women older than 60 have diabetes?",
            (pl.col("sex") == "F") & (pl.col("age") > 60) & (pl.col("diagnosis") == "diabetes"),
        ),
        ("How many smokers at the north site?", (pl.col("smoker")) & (pl.col("site") == "north")),
        (
            "How many men younger than 30 have asthma?",
            (pl.col("sex") == "M") & (pl.col("age") < 30) & (pl.col("diagnosis") == "asthma"),
        ),
    ],
    ids=["older-diabetic-women", "north-smokers", "young-asthmatic-men"],
)
def test_question_counts_match_direct_filter(parser, patients, question, expected):
    query = parser.parse(question)
    assert answer(patients, query) == patients.filter(expected).height


def test_average_bmi_question(parser, patients):
    query = parser.parse("What is the average bmi of smokers with hypertension?")
    assert query.aggregate == "mean:bmi"
    direct = patients.filter(pl.col("smoker") & (pl.col("diagnosis") == "hypertension"))[
        "bmi"
    ].mean()
    assert answer(patients, query) == pytest.approx(direct)


def test_streaming_parse_matches_plain_parse(parser):
    question = "How many women older than 70 have copd?"
    assert parser.parse_streaming(question) == parser.parse(question)


def test_explanation_mentions_the_answer(parser, ollama_client, patients):
    question = "How many men older than 80 have copd?"
    result = answer(patients, parser.parse(question))
    text = explain(ollama_client, question, result)
    assert f"{result:g}" in text


def test_parse_reply_reads_filters():
    reply = '{"filters": [{"column": "age", "op": ">", "value": 40}], "aggregate": "count"}'
    assert parse_reply(reply).filters == (Filter("age", ">", 40),)


def test_parse_reply_rejects_prose():
    with pytest.raises(QueryParseError):
        parse_reply("Sure! Here are the patients you asked for.")


def test_parser_uses_configured_model(parser: NLQueryParser):
    assert parser.model == "gpt-4o-mini"
