"""Words and sentences the way the quality filters count them: spaCy's English tokenizer and rule-based
sentencizer (what datatrove's filters use), without the dependency; and the punctuation and stop words
the filters' rules name."""

from __future__ import annotations

import re
import string
import unicodedata

__all__ = ["PUNCTUATION", "STOP_WORDS", "TERMINAL_PUNCTUATION", "count_sentences", "split_words"]

# spaCy's English prefixes and suffixes (its LIST_PUNCT, quotes, currency); infixes split hyphens and
# ``/ : < > =`` between a letter or digit and a letter (``22-year``, ``and/or``, but not ``U-23``, ``1/2``)
_LEAD = set("\"'“‘”’«»([{<)]}>¿¡*$£€#_&,;:!?…§%=—–·")
_TRAIL = set("\"'”’“‘«»)]}>([{<,;:!?.%…°_#*&—–·")
_CONTRACTION = re.compile(r"(?i)^(.+?)(n['’]t|['’](?:s|m|d|ll|ve|re))$")
_INFIX_HYPHEN = re.compile(r"(?<=[^\W_])([-/:<>=])(?=[^\W\d_])|(?<=[0-9])([-+*^])(?=[0-9-])")
_ABBREV = re.compile(r"^(?:[^\W\d_]\.)+$")
# spaCy's English tokenizer exceptions that end in a period: kept whole, so no sentence ends there
_EXCEPTION_LIST = (
    "Adm. Ak. Ala. Apr. Ariz. Ark. Aug. Bros. Calif. Co. Colo. Conn. Corp. D.C. Dec. Del. Dr. E.G. E.g. Feb. Fla. "
    "Ga. Gen. Gov. I.E. I.e. Ia. Id. Ill. Inc. Ind. Jan. Jr. Jul. Jun. Kan. Kans. Ky. La. Ltd. Mar. Mass. Md. Messrs. "
    "Mich. Minn. Miss. Mo. Mont. Mr. Mrs. Ms. Mt. N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. Ore. "
    "Pa. Ph.D. Prof. Rep. Rev. S.C. Sen. Sep. Sept. St. Tenn. Va. Wash. Wis. a.m. co. e.g. i.e. p.m. v.s. vs."
)
_EXCEPTIONS = frozenset(_EXCEPTION_LIST.split())
PUNCTUATION = set(string.punctuation) | set("“”‘’«»…–—¡¿、。，：；！？")
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
# Unicode sentence terminals (Basic Multilingual Plane), as FineWeb's line-punctuation rule uses
TERMINAL_PUNCTUATION = tuple("!.?։؝؞؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅‼‽⁇⁈⁉⸮⸼。꓿꘎꘏꛳꛷﹒﹖﹗！．？｡")
_SENTENCE_END = frozenset(TERMINAL_PUNCTUATION)


def split_words(text: str) -> list[str]:
    """Word tokens the way spaCy's English tokenizer cuts them (what datatrove's filters use), without spaCy.

    Split on white space; peel leading and trailing punctuation off as tokens (``...`` stays one);
    split contractions (``do`` + ``n't``, ``it`` + ``'s``) and hyphens next to letters; keep numbers
    (``6,000``, ``3.8``, ``1/2``), URLs, e-mails and abbreviations (``U.S.``) whole.
    """
    out: list[str] = []
    for tok in text.split():
        i = 0
        while i < len(tok) - 1 and tok[i] in _LEAD:
            out.append(tok[i])
            i += 1
        tok = tok[i:]
        tail: list[str] = []
        while len(tok) > 1:
            if tok.endswith("..."):
                tail.append("...")
                tok = tok[:-3]
            elif tok[-1] in _TRAIL and not (tok[-1] == "." and (_ABBREV.match(tok) or tok in _EXCEPTIONS)):
                tail.append(tok[-1])
                tok = tok[:-1]
            else:
                break
        if "://" in tok or tok.startswith("www."):  # URLs stay whole
            out.append(tok)
            out.extend(reversed(tail))
            continue
        m = _CONTRACTION.match(tok)
        parts = [m.group(1), m.group(2)] if m else [tok[:3], tok[3:]] if tok.lower() == "cannot" else [tok]
        for part in parts:
            out.extend(p for p in _INFIX_HYPHEN.split(part) if p)
        out.extend(reversed(tail))
    return out


def count_sentences(line: str) -> int:
    """Sentences in a line, split as spaCy's rule-based sentencizer splits (what datatrove's C4 filter counts).

    A sentence ends at a token that is a terminal mark (``.``, ``!``, ``?``...), once a token that is
    not punctuation follows; tokens are :func:`split_words`', so ``3.5``, ``U.S.``, ``Oct.``,
    ``example.com`` and ``...`` end nothing.
    """
    n, seen_end = 0, False
    for tok in split_words(line):
        if tok in _SENTENCE_END:
            seen_end = True
        elif not all(unicodedata.category(c)[0] == "P" for c in tok):
            if seen_end or n == 0:
                n += 1
            seen_end = False
    return n or (1 if line.strip() else 0)
