"""Build src/datamill/data/crawl/sample.warc.gz: a small, realistic crawl for the quickstart and tests.

Real text: the 10 Common Crawl documents of Dolma's test data and the 175 Self-Instruct seed tasks
(both Apache-2.0, from tests/data), plus short texts written for this file. Planted on purpose:

* boilerplate-heavy pages (navigation, cookie banner, footer, sidebar around the article),
* low-quality pages (link farms, keyword spam, repeated lines, lorem ipsum, too short, bullet lists),
* exact duplicates (same page at another URL) and a URL duplicate (tracking parameter),
* near duplicates (a few words edited, a line inserted, paragraphs reordered),
* PII (emails, phone numbers, an IP address, a Luhn-valid test card number),
* non-English pages (German, French, Spanish),
* bad records: an image/png payload, a PDF, an empty page, a page in a declared but unknown charset.

Deterministic: ``python scripts/make_sample_crawl.py`` rewrites the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import random
import re
from pathlib import Path

from datamill.pretrain.readers import warc_record

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "tests" / "data"
OUT = ROOT / "src" / "datamill" / "data" / "crawl" / "sample.warc.gz"

NAV = (
    "<nav><ul><li><a href='/'>Home</a></li><li><a href='/news'>News</a></li><li><a href='/about'>About us</a>"
    "</li><li><a href='/contact'>Contact</a></li><li><a href='/shop'>Shop</a></li></ul></nav>"
)
COOKIE = (
    "<div class='cookie-banner' id='cookie-consent'>This website uses cookies to improve your experience. "
    "By continuing you accept our cookie policy. <button>Accept</button></div>"
)
FOOTER = (
    "<footer><p>Copyright 2024 Example Media Group. All rights reserved.</p><p><a href='/privacy'>Privacy "
    "policy</a> | <a href='/terms'>Terms of use</a> | <a href='/sitemap'>Sitemap</a></p></footer>"
)
SIDEBAR = (
    "<aside><h3>Popular posts</h3><ul>"
    + "".join(f"<li><a href='/p/{i}'>Top {i} tips you will not believe</a></li>" for i in range(1, 9))
    + "</ul></aside>"
)

GERMAN = (
    "Die Stadtbibliothek bietet seit vielen Jahren kostenlose Kurse für Kinder und Erwachsene an. "
    "In diesem Herbst lernen die Teilnehmer, wie man alte Bücher restauriert und richtig lagert. "
    "Die Kurse finden jeden Dienstag am Nachmittag statt und dauern ungefähr zwei Stunden. "
    "Eine Anmeldung ist nicht notwendig, aber die Plätze sind begrenzt. "
    "Die Leiterin der Bibliothek freut sich besonders über das große Interesse der jungen Leute. "
    "Im nächsten Jahr soll das Angebot um Kurse zur Geschichte der Stadt erweitert werden."
)
FRENCH = (
    "Le marché du samedi matin attire chaque semaine des centaines de visiteurs venus de toute la région. "
    "Les producteurs locaux y vendent des fruits, des légumes, du fromage et du pain frais. "
    "Depuis l'année dernière, la mairie a installé de nouveaux stands couverts pour protéger les clients "
    "de la pluie. Les habitants apprécient cette ambiance conviviale et les prix raisonnables. "
    "Un concert gratuit est prévu pour la fin du mois sur la place principale. "
    "Les organisateurs espèrent accueillir encore plus de familles cette année."
)
SPANISH = (
    "El nuevo parque del barrio abrió sus puertas el lunes con una gran fiesta para los vecinos. "
    "Tiene zonas de juego para los niños, un pequeño lago y muchos árboles que dan sombra en verano. "
    "El ayuntamiento explicó que el proyecto tardó tres años en completarse por problemas con el terreno. "
    "Los vecinos están muy contentos porque antes no había ningún espacio verde cerca de sus casas. "
    "Durante el fin de semana se organizaron talleres de jardinería y conciertos al aire libre. "
    "Se espera que el parque reciba miles de visitantes cada mes."
)
OWN = [
    "Keeping a small vegetable garden on a balcony is easier than most people think. The first thing to check "
    "is how many hours of direct sun the balcony gets, because tomatoes and peppers need at least six. Herbs such "
    "as mint and parsley are happy with less light. Use containers with drainage holes and a good potting mix, "
    "not soil from the yard, which compacts and drains badly. Water in the morning so that the leaves dry before "
    "night. A weekly feed with a diluted liquid fertiliser keeps the plants productive through the summer.",
    "The city council voted on Tuesday to extend the night bus service to the northern districts. The new route "
    "will run every thirty minutes between midnight and five in the morning. Residents had asked for the change "
    "for years, saying that shift workers had no safe way to get home. The transport office expects about two "
    "thousand passengers a week on the new line. The service starts next month and will be reviewed after a year. "
    "Tickets bought for the day buses remain valid at night.",
    "Learning to read a topographic map starts with the contour lines. Each line joins points of equal height, "
    "and the distance between lines shows how steep the ground is. Lines close together mean a steep slope, while "
    "lines far apart mean gentle terrain. The contour interval is printed in the map legend. Rivers run through "
    "the points where contour lines form a V that points uphill. With a little practice you can picture the shape "
    "of a valley or a ridge before you ever walk there.",
    "Our bakery has been part of the neighbourhood since 1962. We bake every loaf by hand with flour from a mill "
    "that is only forty kilometres away. The sourdough starter we use is older than most of our staff, and we "
    "feed it twice a day. On weekends we also make cinnamon rolls and a rye bread with caraway seeds that many "
    "customers drive across town to buy. We close on Mondays so that the team can rest. Thank you for supporting "
    "a small family business for more than sixty years.",
]


def _uuid(*parts: object) -> str:
    h = hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()
    return f"<urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}>"


def _page(title: str, paragraphs: list[str], *, boilerplate: bool = False, lang: str = "en") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    article = f"<article><h1>{html.escape(title)}</h1>{body}</article>"
    if boilerplate:
        article = f"{COOKIE}{NAV}<div class='layout'>{SIDEBAR}<main>{article}</main></div>{FOOTER}"
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body>{article}</body></html>"
    )


def _title(url: str) -> str:
    host, _, path = url.split("//", 1)[-1].partition("/")
    return f"{host.split('.')[0].replace('-', ' ').title()} article {path.split('?')[0].replace('/', ' ')}"


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?]) ", text)


def _paragraphs(text: str) -> list[str]:
    parts = [p.strip() for p in text.split("\n") if p.strip()]
    return parts or [text]


def _edit(paragraphs: list[str], rng: random.Random, kind: str) -> list[str]:
    out = list(paragraphs)
    if kind == "words":
        words = " ".join(out).split()
        for i in rng.sample(range(len(words)), k=max(1, len(words) // 50)):
            words[i] = rng.choice(["really", "indeed", "also", "very", "quite"])
        return [" ".join(words)]
    if kind == "insert":
        out.insert(
            rng.randrange(len(out) + 1), "Update: this article was corrected on 12 March to fix a date."
        )
        return out
    rng.shuffle(out)
    return out


def main() -> None:
    rng = random.Random(7)
    dolma = [
        json.loads(line)
        for line in gzip.decompress(
            (SHARED / "pretrain" / "dolma_cc_en_head-0174.jsonl.gz").read_bytes()
        ).splitlines()
    ]
    tasks = [
        json.loads(line)
        for line in (SHARED / "finetune" / "self_instruct_seed_tasks.jsonl").read_text().splitlines()
    ]
    pages: list[tuple[str, bytes, str]] = []  # url, body, content type

    def add(url: str, page: str, ctype: str = "text/html; charset=utf-8") -> None:
        pages.append((url, page.encode("utf-8") if isinstance(page, str) else page, ctype))

    # Real long documents, some cut into parts, half of them wrapped in boilerplate
    articles: list[tuple[str, list[str]]] = []
    for k, d in enumerate(dolma):
        paras = _paragraphs(d["text"])
        for j in range(0, len(paras), 4):
            articles.append((f"https://cc-sample.example.org/doc/{k}/{j // 4}", paras[j : j + 4]))
    for url, paras in articles:
        add(url, _page(_title(url), paras, boilerplate=rng.random() < 0.5))

    # Self-instruct tasks as Q&A pages (5 tasks each), most with boilerplate
    for j in range(0, len(tasks), 5):
        paras = []
        for t in tasks[j : j + 5]:
            paras.append(t["instruction"])
            for inst in t["instances"][:1]:
                if inst.get("input"):
                    paras.append(inst["input"])
                paras.append(inst["output"])
        add(
            f"https://howto.example.com/tasks/{j // 5}",
            _page(f"Questions and answers, part {j // 5 + 1}", paras, boilerplate=rng.random() < 0.7),
        )
    # Single tasks: short pages (most fail the 50-word Gopher rule)
    for t in tasks[:60]:
        paras = [t["instruction"]] + [i["output"] for i in t["instances"][:1]]
        add(
            f"https://qa.example.net/q/{t['id']}", _page(t["name"].replace("_", " "), paras, boilerplate=True)
        )
    # Our own texts, one page each, plus copies
    for k, text in enumerate(OWN):
        add(
            f"https://local-news.example.com/story/{k}",
            _page(f"Local story {k}", _sentences(text), boilerplate=True),
        )

    # Exact duplicates at other URLs, and one URL duplicate with a tracking parameter
    for url, paras in articles[:10]:
        add(url.replace("cc-sample.example.org", "mirror.example.info"), _page(_title(url), paras))
    add(articles[0][0] + "?utm_source=newsletter", _page(_title(articles[0][0]), articles[0][1]))
    # Near duplicates: edited words, an inserted line, reordered paragraphs
    for n, (url, paras) in enumerate(articles[6:30]):
        kind = ("words", "insert", "shuffle")[n % 3]
        add(f"https://copycat.example.biz/{n}", _page(_title(url), _edit(paras, rng, kind), boilerplate=True))

    # Low quality
    for k in range(8):
        links = "".join(f"<li><a href='/deal/{k}/{i}'>Cheap deal {i}</a></li>" for i in range(40))
        add(
            f"https://spam.example.xyz/links/{k}",
            f"<html><body><h1>Best deals</h1><ul>{links}</ul></body></html>",
        )
    for k in range(6):
        spam = " ".join(["buy cheap watches online best price"] * 30)
        add(f"https://spam.example.xyz/kw/{k}", _page("cheap watches", [spam]))
    for k in range(4):
        add(f"https://spam.example.xyz/rep/{k}", _page("Sale", ["Click here for the sale now!"] * 25))
    add(
        "https://template.example.com/",
        _page(
            "Lorem",
            [
                "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
                *_sentences(OWN[0]),
            ],
        ),
    )
    add(
        "https://code.example.dev/snippet",
        _page(
            "Snippet",
            [
                "Here is the function we use in production to parse the configuration file every time.",
                "def parse(path) { return open(path).read().split(); } is the whole thing, and it works well.",
                *_sentences(OWN[2]),
            ],
        ),
    )
    for k in range(4):
        add(f"https://tiny.example.org/{k}", _page("Hi", ["Welcome!", "Nothing here yet."]))
    for k in range(3):
        items = [f"- item number {i} in the list" for i in range(30)]
        add(f"https://lists.example.org/{k}", _page("List", items))

    # PII
    add(
        "https://club.example.org/contact",
        _page(
            "Contact the chess club",
            [
                OWN[1],
                "To join the club, write to the secretary at maria.schmidt@chessclub-example.org or call "
                "+1 (555) 201-3344 on weekday evenings. You can also reach the treasurer at 555-867-5309.",
                "Payments for the annual fee can be made by card; our test card 4111 1111 1111 1111 was used to "
                "check the system. The booking server runs at 203.0.113.42 and accepts bookings all week long.",
                OWN[3],
            ],
        ),
    )
    add(
        "https://forum.example.com/thread/77",
        _page(
            "Router help",
            [
                OWN[2],
                "My router shows the address 2001:db8:85a3::8a2e:370:7334 and also 198.51.100.7 for the modem. "
                "If anyone can help, email me at j.doe1984@mail-example.com and I will reply the same day.",
                OWN[0],
            ],
        ),
    )

    # Non-English pages
    for k, (lang, text) in enumerate(
        (("de", GERMAN), ("fr", FRENCH), ("es", SPANISH), ("de", " ".join(reversed(_sentences(GERMAN)))))
    ):
        add(f"https://intl.example.eu/{lang}/{k}", _page(f"Nachrichten {k}", _sentences(text), lang=lang))

    # Bad records
    add("https://img.example.com/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")
    add(
        "https://docs.example.com/report.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "application/pdf",
    )
    add("https://empty.example.com/", "<html><head><title></title></head><body></body></html>")
    add(
        "https://legacy.example.jp/page",
        _page("Legacy", [OWN[3]]).encode("utf-8"),
        "text/html; charset=x-unknown-42",
    )

    rng.shuffle(pages)
    out = bytearray()
    for n, (url, body, ctype) in enumerate(pages):
        date = f"2024-05-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z"
        out += warc_record(url, body, content_type=ctype, date=date, record_id=_uuid(url, n)[10:-1])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(bytes(out))
    print(f"wrote {OUT} ({len(pages)} records, {len(out):,} bytes)")


if __name__ == "__main__":
    main()
