import pytest

from classifier.features import TextNormalizer
from classifier.normalize import normalize_text, normalize_texts


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ВИХОДЬТЕ НА МАЙДАН", "виходьте на майдан"),
        ("ＭＡＭＡ", "мама"),  # full-width Latin -> NFKC -> folded onto Cyrillic
        ("про\u200bтест", "протест"),  # zero-width space removed
        ("про\u00adтест", "протест"),  # soft hyphen removed
        ("\u202eмама\u202c", "мама"),  # bidi override removed
        ("мама   \t\n  тато", "мама тато"),
        ("ВЫХОДИТЕЕЕЕЕЕ!!!!!!", "выходитеее!!!"),
        ("пишіть на https://t.me/chan?x=1 або www.example.com", "пишіть на url або url"),
        ("мій номер +380 67 123 45 67", "мій номер zvn"),
        ("@someone дивись", "@u дивись"),
        ("нас 300 чоловік, 8 місяців", "нас 0 чоловік, 0 місяців"),
        ("пам’ятай п'ять пʼять", "пам'ятай п'ять п'ять"),
        ("«обмін» — зараз", '"обмін" - зараз'),
        ("Ещё", "еще"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_latin_lookalikes_fold_onto_cyrillic():
    cyrillic = "ПРОТЕСТ НА МАЙДАНІ"
    mixed = "ПPOTECT HA MAЙДAHI"  # Latin P, O, T, E, C, H, A, M, I
    assert normalize_text(mixed) == normalize_text(cyrillic)


def test_batch_matches_single_and_keeps_count():
    texts = ["Мамо\u200b я ЖИВИЙ", "", "   ", "a\ue000b", "x" * 10, "Ещё РАЗ"]
    assert normalize_texts(texts) == [normalize_text(t) for t in texts]
    assert normalize_texts([]) == []


def test_idempotent():
    texts = ["ВЫХОДИТЕЕЕЕ на https://x.com 123", "ＭＡＭＡ про\u200bтест «так»", "Hello World"]
    once = normalize_texts(texts)
    assert normalize_texts(once) == once


def test_transformer_is_stateless_and_clonable():
    from sklearn.base import clone

    step = clone(TextNormalizer())
    assert step.fit(["a"]).transform(["ТЕСТ"]) == ["тест"]


@pytest.mark.parametrize(
    ("evasive", "plain"),
    [
        ("в и х о д ь т е на м а й д а н", "виходьте на майдан"),
        ("пр0тест, м4йдан, пр00тест", "протест, майдан, проотест"),
        ("go 2 the r@lly", "go 0 the rally"),
    ],
)
def test_spaced_out_letters_and_leetspeak(evasive, plain):
    assert normalize_text(evasive) == normalize_text(plain)


def test_numbers_that_are_not_leetspeak_stay_numbers():
    assert normalize_text("у 2024 році, 47-ма бригада") == "у 0 році, 0-ма бригада"


@pytest.mark.parametrize(
    "text",
    ["Ѐ2Ѐ", "Ѐ00Ѐ", "Ё\u0306", "Ѐ0\u0300Ѐ", "0\u200b0", "А\u200b\u0306", "0\U000e00000", "а٣б"],
)
def test_idempotent_on_cases_hypothesis_found(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[14.02.24 18:30] Unknown: Мамо, привіт", "мамо, привіт"),
        ("[Viber 16:44] Оля: забери посилку", "забери посилку"),
        ("12/03/2024, 21:14 - Oleh: добре", "добре"),
        ("[1/2/24, 9:05:11 PM] John Smith: мамо", "мамо"),
        ("Oleh, [14.02.2024 18:30]\nмам я тут", "мам я тут"),
        ("Forwarded from Полонені UA\nМамо виходьте", "мамо виходьте"),
        ("Переслано від Сашко: мамо", "мамо"),
        ("18:30 Мама: купи хліба", "купи хліба"),
        ("12.03.2024\n18:30\nпривіт", "привіт"),
        ("[14.02.24 18:30] А: так\n[14.02.24 18:31] Б: ні", "так ні"),
        # not metadata: a time inside a sentence, or a long line after "forwarded from"
        ("Збір о 18:30 біля ради", "збір о 0:0 біля ради"),
    ],
)
def test_chat_export_metadata_is_removed(raw, expected):
    assert normalize_text(raw) == expected
