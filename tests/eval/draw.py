#!/usr/bin/env python3
"""tests/eval/draw.py - which caption rows the labelled splits tune.tsv and
heldout.tsv hold, drawn reproducibly from ../shared/data/captions.

  python3 tests/eval/draw.py [--data DIR] SPLIT            list the draw
  python3 tests/eval/draw.py [--data DIR] SPLIT --check TSV check a split
  python3 tests/eval/draw.py SPLIT --second TSV              second-annotator sample

SPLIT is "tune", "tune2", "tune3", "heldout" or "heldout2".  The listing
is one line per drawn row: source, row, stratum, caption (tabs and line
breaks replaced by spaces, otherwise the text exactly as in the source
file).  --check verifies that
the real-source rows of a labelled TSV are exactly the draw, with the same
captions, and that the hard cases (source "hard") sit apart; it exits 1 and
says what differs otherwise.

How rows are drawn (the README beside the labelled files says why):
- Partition: tune, tune2 and tune3 rows are EVEN 0-based rows of the
  caption files, heldout and heldout2 rows ODD ones.  Rows in the shared
  dev set (labels/dev.tsv) are never drawn, and a split never takes a row
  of the splits listed for it in AFTER (tune2 is drawn after tune, from
  the even rows tune left; tune3 after both; heldout2 after heldout).
- Order: every candidate row gets the key sha256("SEED:split:stratum:source:
  row"); a stratum takes the lowest keys.  No interpreter's random module is
  involved, so any Python 3 gives the same draw.
- Strata: "random" takes rows from the whole file; an "kw-<family>" stratum
  takes rows that the naive keyword list KEYWORDS[family] flags (word
  boundaries, any case) and that no earlier stratum of the split took.
  Strata are drawn in the order of QUOTAS.
- Safety screen: a row matching both SCREEN_MINOR and SCREEN_SEXUAL is
  excluded before anyone reads it (never written to a labelled file); so is
  any row in EXCLUDE (rows an annotator excluded by hand for the same
  reason).  The next row in key order takes its place.  The screen is
  deliberately broad: it also drops harmless rows ("hot pink baby booties"),
  which costs a few age.minor traps and is counted in the README.

--second lists the seeded sample of a labelled TSV that a second annotator
relabels blind to measure agreement: SECOND["real"] rows of the real
sources and SECOND["hard"] hard cases, each set taking the lowest keys
sha256("SEED:split:second:source:row").  It prints source, row and caption
only, never the first annotator's labels or notes.
"""
import argparse
import hashlib
import json
import os
import re
import sys

SEED = "ballast-issue-11"

# Number of rows per stratum, in draw order (None: every row the stratum
# can take; sexual wording is rare outside a few hundred web captions).  Sources are the file names
# in captions/ (and the labelled files' first column).
I2D = "img2dataset-test-10000.tsv"
CC3M = "cc3m-validation.tsv"
COCO = "coco-captions-val2017.json"
FLICKR = "flickr8k-token.txt"
QUOTAS = {
    "tune": [
        (I2D, "random", 250),
        (I2D, "kw-sexual", None),
        (I2D, "kw-ethnic", 60),
        (I2D, "kw-colour", 25),
        (I2D, "kw-child", 50),
        (I2D, "kw-person", 55),
    ],
    "heldout": [
        (I2D, "random", 400),
        (I2D, "kw-sexual", None),
        (I2D, "kw-ethnic", 95),
        (I2D, "kw-colour", 35),
        (I2D, "kw-child", 80),
        (I2D, "kw-person", 80),
        (CC3M, "random", 100),
        (COCO, "random", 50),
        (FLICKR, "random", 50),
    ],
    # Round 2 of the rules needs more tuning data: even rows again, none of
    # tune's (AFTER), so heldout stays unseen.  Every even kw-sexual row is
    # already in tune, and kw-ethnic takes every row left.
    "tune2": [
        (I2D, "random", 400),
        (I2D, "kw-sexual", None),
        (I2D, "kw-ethnic", None),
        (I2D, "kw-colour", 30),
        (I2D, "kw-child", 65),
        (I2D, "kw-person", 90),
        (CC3M, "random", 100),
    ],
    # Round 4 (issue 11): a larger labelled draw of web alt-text alone, to
    # give the rare families support.  tune3 takes every even img2dataset
    # row the keyword lists still flag (the sexual and ethnic lists flag
    # none left) plus the new "extra" list, and a random part; heldout2 is
    # its odd twin, a fresh held-back split that no rule was written
    # against (heldout had been looked at, in aggregate, for three rounds).
    "tune3": [
        (I2D, "random", 200),
        (I2D, "kw-sexual", None),
        (I2D, "kw-ethnic", None),
        (I2D, "kw-colour", None),
        (I2D, "kw-child", None),
        (I2D, "kw-person", None),
        (I2D, "kw-extra", None),
    ],
    "heldout2": [
        (I2D, "random", 200),
        (I2D, "kw-sexual", None),
        (I2D, "kw-ethnic", None),
        (I2D, "kw-colour", 150),
        (I2D, "kw-child", None),
        (I2D, "kw-person", None),
        (I2D, "kw-extra", None),
    ],
}
PARITY = {"tune": 0, "tune2": 0, "tune3": 0, "heldout": 1, "heldout2": 1}
# Splits whose rows a split must not take (drawn first, with their own keys).
AFTER = {"tune2": ["tune"], "tune3": ["tune", "tune2"], "heldout2": ["heldout"]}

# The naive keyword list used ONLY to enrich the draw (never to label).
# Written from scratch for the draw, not taken from filters/.
KEYWORDS = {
    "sexual": r"sexy|sexier|sexiest|sex|sexual|nude|nudes|nudity|naked|topless|"
              r"porn|porno|xxx|nsfw|erotic|erotica|hentai|lingerie|seductive|"
              r"sensual|busty|cleavage|boudoir|pin-?up|babe|babes|stripper|"
              r"thong|panties|milf|fetish|bdsm|playboy|bikini|hot girls?",
    "ethnic": r"asian|asians|chinese|japanese|korean|taiwanese|mongolian|thai|"
              r"vietnamese|filipino|filipina|indonesian|malaysian|cambodian|"
              r"burmese|singaporean|indian|indians|pakistani|bangladeshi|"
              r"nepali|desi|african|africans|african-american|afro|ebony|"
              r"caucasian|latina|latino|latinas|latinos|latin|hispanic|"
              r"mexican|brazilian|colombian|cuban|arab|arabs|arabic|persian|"
              r"iranian|turkish|egyptian|native|indigenous|aboriginal|"
              r"european|russian|ukrainian|polish|irish|scottish|british|"
              r"english|french|german|italian|spanish|swedish|dutch|greek|"
              r"american|canadian|australian|oriental|exotic|ethnic",
    "colour": r"black|blacks|white|whites",
    "child": r"child|children|kid|kids|baby|babies|toddler|toddlers|infant|"
             r"infants|newborn|teen|teens|teenage|teenager|teenagers|preteen|"
             r"schoolgirl|schoolboy|youth|junior|son|sons|daughter|daughters|"
             r"boy|boys|girl|girls|little|young",
    "person": r"woman|women|man|men|girl|girls|boy|boys|lady|ladies|guy|guys|"
              r"gentleman|gentlemen|female|male|actress|actor|model|models|"
              r"wife|husband|mother|mom|mum|father|dad|bride|groom|she|her|"
              r"he|his|him|mr|mrs|ms|miss|queen|king|princess|prince|couple|"
              r"people|person|portrait|singer|player|dancer|student",
    # Added for tune3/heldout2 (round 4): more person nouns, kin and
    # wedding words, slang, nationalities and peoples the lists above miss,
    # looks and clothing words.  Still only selects rows.
    "extra": r"ladies'?|lady's|womens|mens|bride|bridal|groom|girlfriend|"
             r"boyfriend|grandma|grandmother|grandfather|grandpa|granny|aunt|"
             r"uncle|niece|nephew|sister|sisters|brother|brothers|widow|nun|"
             r"monk|priest|cowboy|cowgirl|businessman|businesswoman|fireman|"
             r"policeman|sportsman|chairman|spokesman|gal|lad|lass|bloke|"
             r"dude|hottie|blonde|brunette|redhead|beauty|beautiful|pretty|"
             r"handsome|gorgeous|hot|glamour|glamorous|pose|posing|selfie|"
             r"wedding|family|parent|parents|mommy|daddy|maternity|pregnant|"
             r"nigerian|ghanaian|kenyan|ethiopian|somali|jamaican|haitian|"
             r"hawaiian|samoan|maori|inuit|peruvian|argentinian|argentine|"
             r"chilean|venezuelan|dominican|puerto rican|saudi|syrian|"
             r"lebanese|iraqi|israeli|jewish|muslim|hindu|sikh|portuguese|"
             r"norwegian|danish|finnish|czech|hungarian|romanian|serbian|"
             r"croatian|bulgarian|austrian|swiss|belgian|sri lankan|tibetan|"
             r"hmong|laotian|navajo|cherokee|afghan|kurdish|moroccan|"
             r"algerian|tunisian|sudanese|senegalese|zulu|wife|actress|nurse|"
             r"doctor|teacher|chef|soldier|warrior|athlete|bodybuilder|"
             r"fitness|yoga|tattoo|tattooed|face|hair|hairstyle|makeup|dress|"
             r"swimsuit|swimwear|underwear|bra|lingerie|skirt|heels",
}
KW = {k: re.compile(r"\b(?:" + v + r")\b", re.I) for k, v in KEYWORDS.items()}

SCREEN_MINOR = re.compile(
    r"\b(?:child|children|childs?|kid|kids|kiddie|baby|babies|toddlers?|"
    r"infants?|newborns?|teens?|teenage|teenagers?|preteens?|schoolgirls?|"
    r"schoolboys?|underage|loli|lolita|minors?|youth|daughters?|sons?|"
    r"little\s+(?:girl|boy)s?|young\s+(?:girl|boy)s?|"
    r"\d{1,2}[\s-]*(?:yo|y/o|years?[\s-]*old))\b", re.I)
SCREEN_SEXUAL = re.compile(
    r"\bsex|sexy|sexual|nude|nudity|naked|topless|porn|\bxxx\b|nsfw|erotic|"
    r"hentai|lingerie|seduct|sensual|busty|cleavage|boudoir|stripper|"
    r"pant(?:y|ies)|thong|fetish|bdsm|\bhot\b|\bbabes?\b|milf|fuck|pussy|"
    r"\bcock|\bdick|\btits?\b|boob|\bass\b|orgasm|masturbat|blowjob|playboy|"
    r"s3x|n\*de", re.I)

# Sample sizes of the second, blind annotation (--second).
SECOND = {"real": 400, "hard": 100}

# (source, row) pairs excluded by hand, for the reason above.  No text.
EXCLUDE = {
    (I2D, 452),
    (I2D, 8361),
    (I2D, 9606),       # tune2
}


def one_line(s):
    return s.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def read_source(data, source):
    """The captions of one source file, as a list indexed by row."""
    path = os.path.join(data, "captions", source)
    if source == COCO:
        with open(path, encoding="utf-8") as f:
            return [one_line(a["caption"]) for a in json.load(f)["annotations"]]
    with open(path, encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if source == I2D:
        lines = lines[1:]          # header "caption<TAB>url"
    if source == FLICKR:
        return [one_line(l.split("\t", 1)[1]) for l in lines]
    return [one_line(l.split("\t", 1)[0]) for l in lines]


def dev_rows(data):
    rows = set()
    path = os.path.join(data, "labels", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            fld = line.split("\t")
            rows.add((fld[0], int(fld[1])))
    return rows


def key(split, stratum, source, row):
    s = "%s:%s:%s:%s:%d" % (SEED, split, stratum, source, row)
    return hashlib.sha256(s.encode()).hexdigest()


def draw(data, split):
    """[(source, row, stratum, caption)] and what the screen dropped:
    {"auto": count, "hand": count, "rows": {(source, row)}}."""
    parity = PARITY[split]
    dev = dev_rows(data)
    cache, taken, out = {}, set(), []
    for earlier in AFTER.get(split, []):
        rows, dropped = draw(data, earlier)
        taken.update((s, r) for s, r, _, _ in rows)
        taken.update(dropped["rows"])     # screened there: not drawn again
    screened = {"auto": 0, "hand": 0, "rows": set()}
    for source, stratum, quota in QUOTAS[split]:
        if source not in cache:
            cache[source] = read_source(data, source)
        caps = cache[source]
        cands = [r for r in range(parity, len(caps), 2)
                 if (source, r) not in dev and (source, r) not in taken]
        if stratum.startswith("kw-"):
            rx = KW[stratum[3:]]
            cands = [r for r in cands if rx.search(caps[r])]
        cands.sort(key=lambda r: key(split, stratum, source, r))
        n = 0
        for r in cands:
            if quota is not None and n == quota:
                break
            if (source, r) in EXCLUDE:
                screened["hand"] += 1
                screened["rows"].add((source, r))
                continue
            if SCREEN_MINOR.search(caps[r]) and SCREEN_SEXUAL.search(caps[r]):
                screened["auto"] += 1
                screened["rows"].add((source, r))
                continue
            taken.add((source, r))
            out.append((source, r, stratum, caps[r]))
            n += 1
        if quota is not None and n < quota:
            sys.exit("draw: %s %s: only %d of %d rows" % (source, stratum, n, quota))
    return out, screened


def check(data, split, path, rows):
    want = {(s, r): c for s, r, _, c in rows}
    got, bad = {}, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fld = line.rstrip("\n").split("\t")
            if n == 1:
                if fld[:5] != ["source", "row", "caption", "labels", "note"]:
                    print("%s:1: bad header" % path)
                    bad += 1
                continue
            if len(fld) != 5:
                print("%s:%d: %d columns, not 5" % (path, n, len(fld)))
                bad += 1
                continue
            if fld[0] == "hard":
                continue
            k = (fld[0], int(fld[1]))
            if k in got:
                print("%s:%d: %s row %s twice" % (path, n, k[0], k[1]))
                bad += 1
            got[k] = fld[2]
            if k not in want:
                print("%s:%d: %s row %s is not in the %s draw" % (path, n, k[0], k[1], split))
                bad += 1
            elif want[k] != fld[2]:
                print("%s:%d: caption differs from the source file" % (path, n))
                bad += 1
    for k in want:
        if k not in got:
            print("%s: %s row %d of the draw is missing" % (path, k[0], k[1]))
            bad += 1
    print("%s: %d drawn rows, %d problems" % (path, len(want), bad))
    return 1 if bad else 0


def second_sample(split, path):
    """The rows of labelled file PATH for the second annotation, in key
    order, real rows first: [(source, row, caption)] (row as written)."""
    sets = {"real": [], "hard": []}
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            fld = line.rstrip("\n").split("\t")
            sets["hard" if fld[0] == "hard" else "real"].append(tuple(fld[:3]))
    out = []
    for part in ("real", "hard"):
        rows = sorted(sets[part], key=lambda t: hashlib.sha256(
            ("%s:%s:second:%s:%s" % (SEED, split, t[0], t[1])).encode()).hexdigest())
        out.extend(rows[:SECOND[part]])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("split", choices=sorted(QUOTAS))
    ap.add_argument("--data", default=os.environ.get(
        "BALLAST_SHARED_DATA", os.path.join(here, "..", "..", "..", "shared", "data")))
    ap.add_argument("--check", metavar="TSV")
    ap.add_argument("--second", metavar="TSV")
    a = ap.parse_args()
    if a.second:
        for s, r, c in second_sample(a.split, a.second):
            sys.stdout.write("%s\t%s\t%s\n" % (s, r, c))
        return
    rows, screened = draw(a.data, a.split)
    if a.check:
        sys.exit(check(a.data, a.split, a.check, rows))
    out = sys.stdout
    for s, r, st, c in rows:
        out.write("%s\t%d\t%s\t%s\n" % (s, r, st, c))
    sys.stderr.write("draw %s: %d rows; screened out %d (auto) + %d (by hand)\n"
                     % (a.split, len(rows), screened["auto"], screened["hand"]))


if __name__ == "__main__":
    main()
