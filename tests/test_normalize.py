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
