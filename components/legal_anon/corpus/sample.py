"""Generate the embedded sample corpus: fictional ECHR-style judgments in TAB's JSON schema.

Deterministic for a given seed. Every person, place, court and number is invented from
the pools below. Each document has two annotator layers that disagree in the ways real
annotators do (a missed quasi-identifier, a shorter date span, a different identifier
type for lawyers and judges), and NO_MASK mentions such as "the Government" and "the
European Court of Human Rights", so that converters, training and the TAB measures all
have something real to work on without downloading anything.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

COUNTRIES = [
    # (respondent state, demonym, cities, first names, surnames)
    ("the Republic of Moldova", "Moldovan", ["Chişinău", "Bălţi", "Cahul", "Orhei", "Ungheni", "Soroca"],
     ["Ion", "Vasile", "Mihai", "Elena", "Natalia", "Sergiu", "Tatiana", "Andrei"],
     ["Rusu", "Ciobanu", "Munteanu", "Lungu", "Ceban", "Turcanu", "Popa", "Sandu"]),
    ("the Republic of Turkey", "Turkish", ["Ankara", "İzmir", "Diyarbakır", "Bursa", "Van", "Adana", "Trabzon"],
     ["Mehmet", "Ayşe", "Galip", "Fatma", "Hüseyin", "Zeynep", "Mustafa", "Emine", "Utku"],
     ["Yalman", "Demir", "Kaya", "Çelik", "Aydın", "Öztürk", "Arslan", "Doğan", "Kılıç"]),
    ("the Russian Federation", "Russian", ["Moscow", "Yekaterinburg", "Kazan", "Samara", "Omsk", "Tver", "Perm"],
     ["Aleksandr", "Sergey", "Olga", "Irina", "Dmitriy", "Nikolay", "Svetlana", "Pavel"],
     ["Ivanov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Lebedev", "Novikov", "Morozov"]),
    ("the Republic of Poland", "Polish", ["Kraków", "Gdańsk", "Łódź", "Poznań", "Lublin", "Wrocław", "Radom"],
     ["Piotr", "Anna", "Krzysztof", "Agnieszka", "Tomasz", "Magdalena", "Marek", "Ewa"],
     ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Szymański"]),
    ("Ukraine", "Ukrainian", ["Kyiv", "Kharkiv", "Odesa", "Lviv", "Dnipro", "Poltava", "Chernihiv"],
     ["Oleksandr", "Yuliya", "Andriy", "Oksana", "Volodymyr", "Nataliya", "Taras", "Iryna"],
     ["Shevchenko", "Bondarenko", "Kovalenko", "Tkachenko", "Kravchenko", "Melnyk", "Boyko", "Oliynyk"]),
    ("Romania", "Romanian", ["Bucharest", "Cluj-Napoca", "Iaşi", "Timişoara", "Constanţa", "Braşov", "Craiova"],
     ["Gheorghe", "Maria", "Constantin", "Ioana", "Florin", "Daniela", "Radu", "Cristina"],
     ["Popescu", "Ionescu", "Dumitrescu", "Stan", "Stoica", "Gheorghiu", "Matei", "Constantinescu"]),
    ("the Italian Republic", "Italian", ["Rome", "Naples", "Turin", "Palermo", "Bologna", "Bari", "Genoa"],
     ["Giuseppe", "Francesca", "Marco", "Giulia", "Antonio", "Chiara", "Luca", "Paola"],
     ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"]),
    ("the Republic of Bulgaria", "Bulgarian", ["Sofia", "Plovdiv", "Varna", "Burgas", "Ruse", "Pleven", "Sliven"],
     ["Georgi", "Ivanka", "Dimitar", "Petya", "Stoyan", "Milena", "Nikolay", "Desislava"],
     ["Georgiev", "Dimitrov", "Petrov", "Nikolov", "Stoyanov", "Todorov", "Angelov", "Iliev"]),
]
FEMALE_FIRST_NAMES = {
    "Elena", "Natalia", "Tatiana", "Ayşe", "Fatma", "Zeynep", "Emine", "Olga", "Irina", "Svetlana", "Anna",
    "Agnieszka", "Magdalena", "Ewa", "Yuliya", "Oksana", "Nataliya", "Iryna", "Maria", "Ioana", "Daniela",
    "Cristina", "Francesca", "Giulia", "Chiara", "Paola", "Ivanka", "Petya", "Milena", "Desislava",
}
JUDGE_NAMES = ["Josep Casadevall", "Françoise Tulkens", "Dean Spielmann", "Elisabet Fura", "Mark Villiger",
               "Ineta Ziemele", "Päivi Hirvelä", "Nona Tsotsoria", "Ledi Bianku", "Ganna Yudkivska",
               "Vincent A. De Gaetano", "Helen Keller", "Paul Lemmens", "Aleš Pejchal", "Krzysztof Wojtyczek"]
REGISTRARS = ["Santiago Quesada", "Lawrence Early", "Claudia Westerdiek", "Fatoş Aracı", "Søren Nielsen"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
OFFENCES = ["drug trafficking", "aggravated robbery", "fraud", "membership of an illegal organisation",
            "tax evasion", "manslaughter", "abuse of office", "extortion"]
RELATIONS = ["wife", "brother", "mother", "neighbour", "colleague", "son", "sister"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
CURRENCIES = ["EUR", "USD", "RUB", "TRY", "PLN", "UAH"]
ARTICLES = ["Article 3", "Article 5 § 3", "Article 6 § 1", "Article 8", "Article 10", "Article 13",
            "Article 1 of Protocol No. 1"]
COMPLAINTS = ["the length of the criminal proceedings against {obj} had been excessive",
              "{pron} had been ill-treated by the police", "{poss} pre-trial detention had been unlawful",
              "the domestic courts had not examined {poss} arguments", "{poss} correspondence had been monitored"]


@dataclass
class Mention:
    start: int
    end: int
    entity_type: str
    identifier_type: str
    entity_key: str
    role: str  # what the mention is, so annotators can disagree by role


@dataclass
class DocBuilder:
    parts: List[str] = field(default_factory=list)
    mentions: List[Mention] = field(default_factory=list)
    length: int = 0

    def add(self, text: str) -> "DocBuilder":
        self.parts.append(text)
        self.length += len(text)
        return self

    def ent(self, text: str, entity_type: str, identifier_type: str, key: Optional[str] = None,
            role: str = "") -> "DocBuilder":
        self.mentions.append(Mention(self.length, self.length + len(text), entity_type, identifier_type,
                                     key or f"{entity_type}:{text}", role or entity_type))
        return self.add(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _date(rng: random.Random, year_from: int, year_to: int) -> Tuple[str, int]:
    year = rng.randint(year_from, year_to)
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {year}", year


def _duration(rng: random.Random) -> str:
    n = rng.choice(NUMBER_WORDS)
    unit = rng.choice(["years", "months"])
    if unit == "years" and rng.random() < 0.5:
        return f"{n} years and {rng.choice(NUMBER_WORDS)} months"
    return f"{n} {unit}"


def _amount(rng: random.Random) -> str:
    return f"{rng.choice(CURRENCIES)} {rng.randint(1, 90) * 500:,}"


def generate_document(rng: random.Random, doc_id: str) -> Tuple[str, List[Mention], dict]:
    state, demonym, cities, firsts, lasts = rng.choice(COUNTRIES)
    first, last = rng.choice(firsts), rng.choice(lasts)
    female = first in FEMALE_FIRST_NAMES
    title, pron, poss, obj = ("Ms", "she", "her", "her") if female else ("Mr", "he", "his", "him")
    app_year = rng.randint(1998, 2012)
    appno = f"{rng.randint(100, 79999)}/{app_year % 100:02d}"
    lawyer_first = rng.choice(firsts)
    lawyer = f"{lawyer_first} {rng.choice([s for s in lasts if s != last])}"
    lawyer_title = "Ms" if lawyer_first in FEMALE_FIRST_NAMES else "Mr"
    agent = f"{rng.choice(firsts)[0]}. {rng.choice(lasts)}"
    city_home, city_lawyer, city_court = rng.sample(cities, 3)
    b = DocBuilder()
    applicant = "PERSON:applicant"

    b.add("PROCEDURE\n\n1. The case originated in an application (no. ")
    b.ent(appno, "CODE", "DIRECT", "CODE:appno", role="appno")
    b.add(") against ")
    b.ent(state, "ORG", "NO_MASK", role="state")
    b.add(" lodged with the ")
    b.ent("European Court of Human Rights", "ORG", "NO_MASK", role="court_echr")
    b.add(" (“the Court”) under Article 34 of the Convention for the Protection of Human Rights and "
          "Fundamental Freedoms (“the Convention”) by a ")
    b.ent(demonym, "DEM", "QUASI", role="nationality")
    b.add(" national, ")
    b.ent(f"{title} {first} {last}", "PERSON", "DIRECT", applicant, role="applicant")
    b.add(" (“the applicant”), on ")
    lodged, _ = _date(rng, app_year, app_year)
    b.ent(lodged, "DATETIME", "QUASI", role="date")
    b.add(".\n\n2. The applicant was represented by ")
    b.ent(f"{lawyer_title} {lawyer}", "PERSON", "QUASI", "PERSON:lawyer", role="lawyer")
    b.add(", a lawyer practising in ")
    b.ent(city_lawyer, "LOC", "QUASI", role="city")
    b.add(". The ")
    b.ent(demonym, "DEM", "NO_MASK", role="dem_government")
    b.add(" Government (“the ")
    b.ent("Government", "ORG", "NO_MASK", role="government")
    b.add("”) were represented by their Agent, ")
    b.ent(f"Mr {agent}", "PERSON", "NO_MASK", "PERSON:agent", role="agent")
    b.add(".\n\n3. The applicant alleged, in particular, that ")
    b.add(rng.choice(COMPLAINTS).format(pron=pron, poss=poss, obj=obj))
    b.add(f", in breach of {rng.choice(ARTICLES)} of the Convention.\n\n4. On ")
    communicated, _ = _date(rng, app_year + 1, app_year + 3)
    b.ent(communicated, "DATETIME", "QUASI", role="date")
    b.add(" the application was communicated to the ")
    b.ent("Government", "ORG", "NO_MASK", role="government")
    b.add(".\n\nTHE FACTS\n\nI. THE CIRCUMSTANCES OF THE CASE\n\n5. The applicant was born in ")
    birth_year = rng.randint(1940, 1985)
    b.ent(str(birth_year), "DATETIME", "QUASI", role="date")
    b.add(" and lives in ")
    b.ent(city_home, "LOC", "QUASI", role="city")
    b.add(".\n\n")

    n = 6
    court = f"{city_court} {rng.choice(['District Court', 'Regional Court', 'City Court'])}"
    appeal_court = f"{rng.choice(['Supreme Court', 'Court of Appeal', 'Court of Cassation'])}"
    prison = f"{rng.choice(cities)} {rng.choice(['remand prison', 'Prison No. ' + str(rng.randint(1, 15)), 'detention centre'])}"
    events = ["arrest", "detention", "trial", "appeal", "witness", "medical", "compensation", "release"]
    rng.shuffle(events)
    events = sorted(events[: rng.randint(4, 7)], key=["arrest", "detention", "witness", "medical", "trial",
                                                      "appeal", "release", "compensation"].index)
    for ev in events:
        b.add(f"{n}. ")
        n += 1
        if ev == "arrest":
            b.add("On ")
            b.ent(_date(rng, app_year - 3, app_year - 1)[0], "DATETIME", "QUASI", role="date")
            b.add(" the applicant was arrested by officers of the ")
            b.ent(f"{city_home} Police Department", "ORG", "QUASI", role="org")
            b.add(" on suspicion of ")
            b.ent(rng.choice(OFFENCES), "MISC", "QUASI", role="offence")
            b.add(f". {title} ")
            b.ent(last, "PERSON", "DIRECT", applicant, role="applicant_short")
            b.add(f" submitted that {pron} had not been informed of the reasons for {poss} arrest.")
        elif ev == "detention":
            b.add("The applicant was then detained in ")
            b.ent(prison, "ORG", "QUASI", role="org")
            b.add(" for ")
            b.ent(_duration(rng), "DATETIME", "QUASI", role="duration")
            b.add(". According to the applicant, the cell measured ")
            b.ent(f"{rng.randint(8, 30)} square metres", "QUANTITY", "QUASI", role="quantity")
            b.add(f" and was shared with {rng.choice(NUMBER_WORDS)} other detainees.")
        elif ev == "witness":
            rel = rng.choice(RELATIONS)
            # a relative shares the surname, never the full name, of the applicant
            wfirst = rng.choice([f for f in firsts if f != first])
            wname = f"{wfirst} {last if rel in ('wife', 'brother', 'mother', 'son', 'sister') else rng.choice(lasts)}"
            b.add("The applicant’s ")
            b.add(rel)
            b.add(", ")
            b.ent(wname, "PERSON", "QUASI", "PERSON:witness", role="witness")
            b.add(", stated before the investigator that on ")
            b.ent(_date(rng, app_year - 3, app_year - 1)[0], "DATETIME", "QUASI", role="date")
            b.add(" the witness had seen the applicant in ")
            b.ent(rng.choice(cities), "LOC", "QUASI", role="city")
            b.add(".")
        elif ev == "medical":
            b.add("A medical report drawn up at the ")
            b.ent(f"{city_home} Forensic Medicine Centre", "ORG", "QUASI", role="org")
            b.add(f" recorded bruises on the applicant’s face and arms. {title} ")
            b.ent(last, "PERSON", "DIRECT", applicant, role="applicant_short")
            b.add(" was treated in hospital for ")
            b.ent(f"{rng.choice(NUMBER_WORDS)} days", "DATETIME", "QUASI", role="duration")
            b.add(".")
        elif ev == "trial":
            b.add("On ")
            b.ent(_date(rng, app_year - 2, app_year)[0], "DATETIME", "QUASI", role="date")
            b.add(" the ")
            b.ent(court, "ORG", "QUASI", "ORG:court", role="org")
            b.add(" convicted the applicant and sentenced ")
            b.add(obj)
            b.add(" to ")
            b.ent(_duration(rng), "DATETIME", "QUASI", role="duration")
            b.add("’ imprisonment. The ")
            b.ent(court, "ORG", "QUASI", "ORG:court", role="org")
            b.add(f" relied on the statements of {rng.choice(NUMBER_WORDS)} witnesses.")
        elif ev == "appeal":
            b.add("The applicant appealed. On ")
            b.ent(_date(rng, app_year, app_year + 1)[0], "DATETIME", "QUASI", role="date")
            b.add(" the ")
            b.ent(appeal_court, "ORG", "QUASI", role="org")
            b.add(" upheld the judgment. The decision was served on ")
            b.ent(f"{title} {last}", "PERSON", "DIRECT", applicant, role="applicant_short")
            b.add(" on ")
            b.ent(_date(rng, app_year, app_year + 1)[0], "DATETIME", "QUASI", role="date")
            b.add(".")
        elif ev == "release":
            b.add("The applicant was released on ")
            b.ent(_date(rng, app_year, app_year + 2)[0], "DATETIME", "QUASI", role="date")
            b.add(" and returned to ")
            b.ent(city_home, "LOC", "QUASI", role="city")
            b.add(".")
        elif ev == "compensation":
            b.add(f"In {poss} claim for just satisfaction the applicant sought ")
            b.ent(_amount(rng), "QUANTITY", "QUASI", role="amount")
            b.add(" in respect of non-pecuniary damage. The ")
            b.ent("Government", "ORG", "NO_MASK", role="government")
            b.add(" considered the claim excessive.")
        b.add("\n\n")

    b.add(f"FOR THESE REASONS, THE COURT UNANIMOUSLY\n\nHolds that there has been a violation of "
          f"{rng.choice(ARTICLES)} of the Convention.\n\nDone in English, and notified in writing on ")
    b.ent(_date(rng, app_year + 3, app_year + 6)[0], "DATETIME", "QUASI", role="date_judgment")
    b.add(".\n\n")
    b.ent(rng.choice(REGISTRARS), "PERSON", "NO_MASK", "PERSON:registrar", role="official")
    b.add("\nRegistrar\n\n")
    b.ent(rng.choice(JUDGE_NAMES), "PERSON", "NO_MASK", "PERSON:president", role="official")
    b.add("\nPresident\n")
    meta = {"applicant": f"{first} {last}", "countries": demonym, "year": app_year + 4}
    return b.text, b.mentions, meta


def annotate(text: str, mentions: List[Mention], doc_id: str, annotator: str, n: int,
             rng: random.Random, disagree: bool) -> dict:
    """One annotator layer; the second annotator disagrees in a few realistic ways."""
    entity_ids: Dict[str, str] = {}
    out = []
    for m in mentions:
        start, end, ident = m.start, m.end, m.identifier_type
        if disagree:
            r = rng.random()
            if ident == "QUASI" and m.role in ("date", "duration", "quantity", "offence") and r < 0.10:
                continue  # missed a quasi-identifier
            if m.role == "date" and r > 0.92 and text[start:end].count(" ") == 2:
                start = text.index(" ", start) + 1  # "March 2007" instead of "3 March 2007"
            if m.role == "lawyer":
                ident = "DIRECT"
            if m.role == "official" and r < 0.3:
                ident = "QUASI"
            if m.role == "dem_government" and r < 0.5:
                ident = "QUASI"
        eid = entity_ids.setdefault(m.entity_key, f"{doc_id}_a{n}_e{len(entity_ids) + 1}")
        out.append({
            "entity_type": m.entity_type,
            "entity_id": eid,
            "entity_mention_id": f"{doc_id}_a{n}_em{len(out) + 1}",
            "start_offset": start,
            "end_offset": end,
            "span_text": text[start:end],
            "identifier_type": ident,
            "confidential_status": "NOT_CONFIDENTIAL",
            "edit_type": "check",
        })
    return {"entity_mentions": out}


def generate_split(seed: int, split: str, n_docs: int) -> List[dict]:
    rng = random.Random(f"{seed}-{split}")
    docs = []
    for i in range(n_docs):
        doc_id = f"sample-{split}-{i + 1:03d}"
        text, mentions, meta = generate_document(rng, doc_id)
        docs.append({
            "doc_id": doc_id,
            "text": text,
            "annotations": {
                "annotator1": annotate(text, mentions, doc_id, "annotator1", 1, rng, disagree=False),
                "annotator2": annotate(text, mentions, doc_id, "annotator2", 2, rng, disagree=True),
            },
            "meta": meta,
            "task": f"Task: Annotate the document to anonymise the following person: {meta['applicant']}",
            "dataset_type": split,
            "quality_checked": ["annotator1"],
        })
    return docs


def main(
    output_dir: Path = typer.Argument(Path("assets/sample"), help="Folder for train.json, dev.json, test.json"),
    seed: int = typer.Option(13, "--seed"),
    n_train: int = typer.Option(60, "--n-train"),
    n_dev: int = typer.Option(20, "--n-dev"),
    n_test: int = typer.Option(20, "--n-test"),
):
    """Write the synthetic TAB-schema sample corpus (deterministic for a seed)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        docs = generate_split(seed, split, n)
        path = output_dir / f"{split}.json"
        path.write_text(json.dumps(docs, ensure_ascii=False) + "\n", encoding="utf8")
        n_words = sum(len(d["text"].split()) for d in docs)
        n_mentions = sum(len(l["entity_mentions"]) for d in docs for l in d["annotations"].values())
        typer.echo(f"{path}: {n} documents, {n_words} words, {n_mentions} mentions in 2 annotator layers")
