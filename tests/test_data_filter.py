"""The gtmktime filter-expression parser, checked against direct numpy expressions on FT2 columns."""
import re

import numpy as np
import pytest

from gammapy_lat.data import parse_filter, read_spacecraft
from gammapy_lat.errors import FilterExpressionError


@pytest.fixture(scope="module")
def sc(crab_day):
    return read_spacecraft(crab_day / "ft2.fits.gz").table


def _col(sc, name):
    return np.asarray(sc[name], float)


CASES = [
    ("(DATA_QUAL>0)&&(LAT_CONFIG==1)", lambda t: (_col(t, "DATA_QUAL") > 0) & (_col(t, "LAT_CONFIG") == 1)),
    ("ABS(ROCK_ANGLE)<52", lambda t: np.abs(_col(t, "ROCK_ANGLE")) < 52),
    ("abs(rock_angle) < 30 || LAT_CONFIG != 1", lambda t: (np.abs(_col(t, "ROCK_ANGLE")) < 30) | (_col(t, "LAT_CONFIG") != 1)),
    ("!(ROCK_ANGLE > 0) && LIVETIME > 20", lambda t: ~(_col(t, "ROCK_ANGLE") > 0) & (_col(t, "LIVETIME") > 20)),
    ("IN_SAA!=T && DATA_QUAL==1", lambda t: ~np.asarray(t["IN_SAA"]) & (_col(t, "DATA_QUAL") == 1)),
    ("!IN_SAA && !!(LAT_CONFIG==1)", lambda t: ~np.asarray(t["IN_SAA"]) & (_col(t, "LAT_CONFIG") == 1)),
    ("LIVETIME / (STOP - START) >= 0.9", lambda t: _col(t, "LIVETIME") / (_col(t, "STOP") - _col(t, "START")) >= 0.9),
    ("2*ROCK_ANGLE - -3 > 4 ** 2 + 1e1", lambda t: 2 * _col(t, "ROCK_ANGLE") + 3 > 16 + 10),
    ("DEC_ZENITH .gt. 10 .and. .not. (LAT_GEO < -20)", lambda t: (_col(t, "DEC_ZENITH") > 10) & ~(_col(t, "LAT_GEO") < -20)),
    ("angsep(RA_ZENITH,DEC_ZENITH,83.6331,22.0145)+15<90", None),
    ("SC_POSITION[3] > 0", lambda t: np.asarray(t["SC_POSITION"])[:, 2] > 0),
    ("ROCK_ANGLE > 10 && ROCK_ANGLE < 40 || ROCK_ANGLE < -40", lambda t: ((_col(t, "ROCK_ANGLE") > 10) & (_col(t, "ROCK_ANGLE") < 40)) | (_col(t, "ROCK_ANGLE") < -40)),
]


@pytest.mark.parametrize("expression,reference", CASES, ids=[c[0] for c in CASES])
def test_filter_matches_numpy(sc, expression, reference):
    if reference is None:
        # zenith-angle ROI cut: separation by the spherical law of cosines
        ra, dec = np.radians(_col(sc, "RA_ZENITH")), np.radians(_col(sc, "DEC_ZENITH"))
        ra0, dec0 = np.radians(83.6331), np.radians(22.0145)
        sep = np.degrees(np.arccos(np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)))
        expected = sep + 15 < 90
    else:
        expected = reference(sc)
    result = parse_filter(expression).evaluate(sc)
    assert result.dtype == bool and result.shape == (len(sc),)
    np.testing.assert_array_equal(result, expected)


def test_columns_listed():
    assert parse_filter("(DATA_QUAL>0)&&(lat_config==1)&&ABS(ROCK_ANGLE)<52").columns == ["DATA_QUAL", "LAT_CONFIG", "ROCK_ANGLE"]


BAD = [
    ("DATA_QUAL>0 &&", 14, "Unexpected end"),
    ("(DATA_QUAL>0", 12, "Expected ')'"),
    ("DATA_QUAL > > 1", 12, "Unexpected '>'"),
    ("DATA_QUAL>0 & LAT_CONFIG==1", 12, "Unexpected character '&'"),
    ("ROCK_ANGLE < 52)", 15, "Unexpected ')'"),
    ("FOO(ROCK_ANGLE) < 3", 0, "Unknown function 'FOO'"),
    ("ABS(ROCK_ANGLE, 2) < 3", 0, "ABS takes 1 argument"),
    ("0 < ROCK_ANGLE < 50", 15, "Chained comparisons"),
    ("", 0, "Empty filter expression"),
    ("__import__('os').system('true')", 11, "Unexpected character"),
    ("__import__(os)", 0, "Unknown function '__import__'"),
    ("ROCK_ANGLE; DATA_QUAL", 10, "Unexpected character ';'"),
]


@pytest.mark.parametrize("expression,position,message", BAD, ids=[b[0] or "empty" for b in BAD])
def test_syntax_errors_point_at_token(expression, position, message):
    with pytest.raises(FilterExpressionError, match=re.escape(message)) as info:
        parse_filter(expression)
    assert info.value.position == position
    # the message shows the expression and a caret under the offending character
    lines = str(info.value).splitlines()
    assert lines[1].strip() == expression.strip() or expression == ""
    assert lines[2].index("^") - 2 == position


BAD_EVAL = [
    ("DATA_QAUL > 0", 0, "Unknown column 'DATA_QAUL'"),
    ("ROCK_ANGLE + 1", 11, "does not evaluate to true/false"),
    ("!ROCK_ANGLE", 0, "'!' needs a true/false operand"),
    ("!ROCK_ANGLE > 0", 0, "'!' needs a true/false operand"),
    ("DATA_QUAL > 0 && ROCK_ANGLE", 14, "'&&' needs true/false operands"),
    ("ABS(DATA_QUAL > 0) > 0", 14, "ABS needs numeric arguments"),
    ("SC_POSITION > 0", 0, "vector column"),
    ("SC_POSITION[4] > 0", 0, "no element"),
]


@pytest.mark.parametrize("expression,position,message", BAD_EVAL, ids=[b[0] for b in BAD_EVAL])
def test_evaluation_errors_point_at_token(sc, expression, position, message):
    parsed = parse_filter(expression)
    with pytest.raises(FilterExpressionError, match=re.escape(message)) as info:
        parsed.evaluate(sc)
    assert info.value.position == position


def test_unknown_column_lists_available(sc):
    with pytest.raises(FilterExpressionError, match="available columns: .*DATA_QUAL.*ROCK_ANGLE"):
        parse_filter("ROCK > 1").evaluate(sc)
