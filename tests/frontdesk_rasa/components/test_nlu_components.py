"""The custom NLU graph components in config.yml, on their own: the sentence-encoder featurizers,
the logistic-regression intent classifier (train, predict, store, load) and the account-takeover
guard."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from frontdesk.password_reset.account_takeover import INTENT_OVERRIDE_KEY
from frontdesk_rasa.components.account_takeover_guard import AccountTakeoverGuard
from frontdesk_rasa.components.logistic_regression_intent_classifier import (
    WEIGHTS_FILE,
    LogisticRegressionIntentClassifier,
)
from frontdesk_rasa.components.minilm_featurizer import MiniLMFeaturizer
from frontdesk_rasa.components.money_request_guard import MoneyRequestGuard
from frontdesk_rasa.components.second_factor_guard import SecondFactorGuard
from frontdesk_rasa.components.universal_sentence_encoder_featurizer import UniversalSentenceEncoderFeaturizer

CONTEXT = ExecutionContext(GraphSchema({}), node_name="test")


def classifier(storage: LocalModelStorage, **config: object) -> LogisticRegressionIntentClassifier:
    return LogisticRegressionIntentClassifier.create(
        {**LogisticRegressionIntentClassifier.get_default_config(), **config},
        storage, Resource("intent_classifier"), CONTEXT)


def message(text: str, dense: list[float], words: list[int], intent: str | None = None) -> Message:
    m = Message(data={TEXT: text, **({INTENT: intent} if intent else {})})
    m.add_features(Features(np.array([dense], dtype=np.float32), FEATURE_TYPE_SENTENCE, TEXT, "encoder"))
    m.add_features(Features(scipy.sparse.coo_matrix([words]), FEATURE_TYPE_SENTENCE, TEXT, "words"))
    return m


def training_data() -> TrainingData:
    rng = np.random.default_rng(7)
    examples = []
    for intent, centre, word in (("greet", [1, 0, 0], 0), ("request_password_reset", [0, 1, 0], 1),
                                 ("ask_latest_invoice", [0, 0, 1], 2)):
        for i in range(12):
            words = [0, 0, 0]
            words[word] = 1
            examples.append(message(f"{intent} {i}", list(np.array(centre) + rng.normal(0, 0.2, 3)), words, intent))
    return TrainingData(examples)


@pytest.fixture
def storage(tmp_path):
    return LocalModelStorage(tmp_path)


def test_the_classifier_learns_ranks_and_survives_a_reload(storage):
    trained = classifier(storage)
    resource = trained.train(training_data())
    fresh = [message("hi", [0.9, 0.1, 0.0], [1, 0, 0]), message("forgot it", [0.1, 0.8, 0.1], [0, 1, 0])]
    trained.process(fresh)
    assert [m.get(INTENT)["name"] for m in fresh] == ["greet", "request_password_reset"]
    ranking = fresh[1].get("intent_ranking")
    assert ranking[0] == fresh[1].get(INTENT)
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0, abs=1e-5)
    assert all(isinstance(r["confidence"], float) for r in ranking)  # JSON-serialisable, not numpy

    loaded = LogisticRegressionIntentClassifier.load(
        LogisticRegressionIntentClassifier.get_default_config(), storage, resource, CONTEXT)
    again = [message("forgot it", [0.1, 0.8, 0.1], [0, 1, 0])]
    loaded.process(again)
    assert again[0].get(INTENT) == pytest.approx(fresh[1].get(INTENT))
    # Stored as plain arrays: loading never unpickles anything.
    with storage.read_from(resource) as directory, np.load(directory / WEIGHTS_FILE, allow_pickle=False) as w:
        assert w["coef"].shape == (3 + 3, 3)


def test_a_message_missing_a_featurizer_still_lines_up_and_one_without_text_gets_no_intent(storage):
    trained = classifier(storage)
    trained.train(training_data())
    words_only = Message(data={TEXT: "reset"})
    words_only.add_features(Features(scipy.sparse.coo_matrix([[0, 1, 0]]), FEATURE_TYPE_SENTENCE, TEXT, "words"))
    empty = Message(data={TEXT: ""})
    trained.process([words_only, empty])
    assert words_only.get(INTENT)["name"] == "request_password_reset"
    assert empty.get(INTENT) == {"name": None, "confidence": 0.0}
    assert empty.get("intent_ranking") == []


def test_one_message_is_scored_as_the_training_matrix_would_score_it(storage):
    trained = classifier(storage)
    trained.train(training_data())
    rng = np.random.default_rng(11)
    (encoder, _), (words, _) = trained.origins
    cases = [
        {encoder: scipy.sparse.csr_matrix(rng.normal(size=(1, 3))), words: scipy.sparse.csr_matrix([[0, 2, 1]])},
        {encoder: scipy.sparse.csr_matrix(rng.normal(size=(1, 3)))},  # no word features
        {encoder: scipy.sparse.csr_matrix((1, 3)), words: scipy.sparse.csr_matrix([[1, 0, 0]])},  # an all-zero block
        # a block with a repeated column (not canonical): the entries add up, as in the matrix
        {encoder: scipy.sparse.csr_matrix(rng.normal(size=(1, 3))),
         words: scipy.sparse.csr_matrix((np.array([1.0, 1.0, 2.0]), np.array([1, 1, 2]), np.array([0, 3])),
                                        shape=(1, 3))},
        # an encoder of the wrong width counts as missing
        {encoder: scipy.sparse.csr_matrix(rng.normal(size=(1, 5))), words: scipy.sparse.csr_matrix([[0, 0, 3]])},
    ]
    for blocks in cases:
        expected = np.asarray(trained._matrix([blocks]) @ trained.coef + trained.intercept, dtype=np.float64)[0]
        np.testing.assert_allclose(trained.logits(blocks), expected, rtol=1e-12, atol=1e-12)


def test_two_intents_give_two_probabilities(storage):
    two = TrainingData([m for m in training_data().training_examples if m.get(INTENT) != "ask_latest_invoice"])
    trained = classifier(storage)
    trained.train(two)
    probe = [message("hello", [1.0, 0.0, 0.0], [1, 0, 0])]
    trained.process(probe)
    ranking = probe[0].get("intent_ranking")
    assert [r["name"] for r in ranking] == ["greet", "request_password_reset"]
    assert ranking[0]["confidence"] > 0.8
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0, abs=1e-5)


def test_an_untrained_classifier_loads_empty_and_classifies_nothing(storage):
    loaded = LogisticRegressionIntentClassifier.load(
        LogisticRegressionIntentClassifier.get_default_config(), storage, Resource("never_trained"), CONTEXT)
    probe = [message("hello", [1.0, 0.0, 0.0], [1, 0, 0])]
    loaded.process(probe)
    assert probe[0].get(INTENT)["name"] is None


def test_a_temperature_above_one_softens_the_confidence_and_keeps_the_order(storage):
    resource = classifier(storage).train(training_data())
    readings = {}
    for temperature in (1.0, 2.0):
        config = {**LogisticRegressionIntentClassifier.get_default_config(), "temperature": temperature}
        probe = [message("forgot it", [0.3, 0.6, 0.1], [0, 1, 0])]
        LogisticRegressionIntentClassifier.load(config, storage, resource, CONTEXT).process(probe)
        readings[temperature] = probe[0].get("intent_ranking")
    assert [r["name"] for r in readings[1.0]] == [r["name"] for r in readings[2.0]]
    assert readings[2.0][0]["confidence"] < readings[1.0][0]["confidence"]
    assert sum(r["confidence"] for r in readings[2.0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("bad", [{"C": 0}, {"max_iter": 0}, {"class_weight": "heavy"}, {"temperature": 0}])
def test_bad_classifier_settings_are_refused(bad):
    with pytest.raises(ValueError):
        LogisticRegressionIntentClassifier.validate_config(
            {**LogisticRegressionIntentClassifier.get_default_config(), **bad})


@pytest.mark.parametrize("featurizer_class", [UniversalSentenceEncoderFeaturizer, MiniLMFeaturizer])
def test_a_sentence_encoder_names_its_features_and_skips_empty_text(storage, featurizer_class):
    featurizer = featurizer_class.create(
        featurizer_class.get_default_config(), storage, Resource("encoder"),
        ExecutionContext(GraphSchema({}), node_name=f"run_{featurizer_class.__name__}"))
    messages = [Message(data={TEXT: "I forgot my password"}), Message(data={TEXT: "   "}),
                Message(data={TEXT: "i forgot my pasword"}), Message(data={TEXT: "send me my last invoice"})]
    featurizer.process(messages)
    [features] = [f for f in messages[0].features if f.type == FEATURE_TYPE_SENTENCE]
    assert features.origin == featurizer._identifier and features.origin  # not None: tellable apart
    assert features.features.shape == (1, featurizer_class.SIZE)
    assert messages[1].features == []
    sentence, typo, other = (m.features[0].features[0] for m in (messages[0], messages[2], messages[3]))
    assert np.allclose([np.linalg.norm(v) for v in (sentence, typo, other)], 1.0, atol=1e-5)
    # A typo stays closer to the sentence it misspells than another request does (USE: 0.8
    # against 0.3; MiniLM, whose word pieces break on typos: 0.5 against 0.2).
    assert sentence @ typo > sentence @ other + 0.2


def parsed(text: str, ranking: list[tuple[str, float]]) -> Message:
    m = Message(data={TEXT: text})
    entries = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    m.set(INTENT, entries[0], add_to_output=True)
    m.set(INTENT_RANKING_KEY, entries, add_to_output=True)
    return m


def guard() -> AccountTakeoverGuard:
    return AccountTakeoverGuard.create(AccountTakeoverGuard.get_default_config(), None, None, CONTEXT)


def test_a_password_reset_that_says_someone_else_acted_goes_to_security():
    [m] = guard().process([parsed("someone changed my password, it wasn't me",
                                  [("request_password_reset", 0.8), ("report_security_incident", 0.15),
                                   ("report_lost_2fa", 0.05)])])
    assert m.get(INTENT) == {"name": "report_security_incident", "confidence": 0.8}
    # The two readings swap confidences: no tie for the ambiguity threshold to trip on.
    assert [(r["name"], r["confidence"]) for r in m.get(INTENT_RANKING_KEY)] == [
        ("report_security_incident", 0.8), ("request_password_reset", 0.15), ("report_lost_2fa", 0.05)]
    assert m.get(INTENT_OVERRIDE_KEY) == {"from": "request_password_reset", "confidence": 0.8,
                                          "signals": ["not_me", "someone_acted"],
                                          "reason": "account_takeover_signal"}
    # It reaches the parse data the dialogue and the actions see, without the text.
    assert m.as_dict(only_output_properties=True)[INTENT_OVERRIDE_KEY]["signals"] == ["not_me", "someone_acted"]


@pytest.mark.parametrize("text, ranking", [
    ("I forgot my password", [("request_password_reset", 0.97), ("report_security_incident", 0.01)]),
    # Other intents are not guarded: a dispute about an unauthorised charge stays a dispute.
    ("someone used my card, it wasn't me", [("report_dispute", 0.9), ("report_security_incident", 0.1)]),
    # An unsure reading stays with the fallback, which offers both as buttons.
    ("someone reset my password", [("nlu_fallback", 0.5), ("request_password_reset", 0.45)]),
])
def test_the_guard_leaves_other_readings_alone(text, ranking):
    [m] = guard().process([parsed(text, ranking)])
    assert m.get(INTENT)["name"] == ranking[0][0]
    assert m.get(INTENT_OVERRIDE_KEY) is None


def money_guard() -> MoneyRequestGuard:
    return MoneyRequestGuard.create(MoneyRequestGuard.get_default_config(), None, None, CONTEXT)


@pytest.mark.parametrize("text, intent, signals", [
    ("I was charged twice for March, why?", "report_dispute", ["charged_twice"]),
    ("what is this double-charge on my card", "report_dispute", ["charged_twice"]),
    ("there's a payment on my statement I don't recognise", "report_dispute", ["not_recognised"]),
    ("explain this unauthorized charge of 49.00", "report_dispute", ["not_authorised"]),
    ("why was I charged after cancelling, I want my money back", "request_refund", ["refund"]),
    # A charge nobody made is disputed, whatever the customer asks for.
    ("charged twice, refund one of them", "report_dispute", ["charged_twice", "refund"]),
])
def test_a_billing_lookup_that_is_a_dispute_or_refund_goes_to_a_person(text, intent, signals):
    [m] = money_guard().process([parsed(text, [("ask_charge_explanation", 0.7), (intent, 0.2), ("greet", 0.1)])])
    assert m.get(INTENT) == {"name": intent, "confidence": 0.7}
    assert [r["name"] for r in m.get(INTENT_RANKING_KEY)] == [intent, "ask_charge_explanation", "greet"]
    assert m.get(INTENT_OVERRIDE_KEY) == {"from": "ask_charge_explanation", "confidence": 0.7, "signals": signals,
                                          "reason": "mandatory_category"}


@pytest.mark.parametrize("text, ranking", [
    ("why is this month's charge almost double?", [("ask_charge_explanation", 0.9), ("report_dispute", 0.1)]),
    ("send all receipts for my reimbursement claim", [("ask_payment_history", 0.9), ("request_refund", 0.1)]),
    ("switch us to monthly, no refund needed", [("ask_plan_details", 0.8), ("request_plan_change", 0.2)]),
    # Only lookups are guarded: a person handles a plan change anyway.
    ("cancel the plan and refund me", [("request_plan_change", 0.9), ("request_refund", 0.1)]),
])
def test_the_money_guard_leaves_other_readings_alone(text, ranking):
    [m] = money_guard().process([parsed(text, ranking)])
    assert m.get(INTENT)["name"] == ranking[0][0] and m.get(INTENT_OVERRIDE_KEY) is None


def second_factor_guard() -> SecondFactorGuard:
    return SecondFactorGuard.create(SecondFactorGuard.get_default_config(), None, None, CONTEXT)


@pytest.mark.parametrize("text, signals", [
    ("lost access to my authenticator, can't sign in", ["authenticator"]),
    ("help me recover access, my security key is lost", ["security_key"]),
    ("new phone and the 2FA is gone", ["two_factor"]),
    ("I have my password but not my 2 fator", ["two_factor"]),
    ("lost my two faactor device", ["two_factor"]),
    ("I used up all my backup codes", ["backup_codes"]),
    ("the sms code never arrives when I log in", ["verification_code"]),
])
def test_a_reset_that_names_a_second_factor_is_a_lost_second_factor(text, signals):
    [m] = second_factor_guard().process([parsed(text, [("request_password_reset", 0.8), ("report_lost_2fa", 0.2)])])
    assert m.get(INTENT) == {"name": "report_lost_2fa", "confidence": 0.8}
    assert m.get(INTENT_OVERRIDE_KEY) == {"from": "request_password_reset", "confidence": 0.8, "signals": signals,
                                          "reason": "mandatory_category"}


@pytest.mark.parametrize("text", [
    # What customers call their password stays a reset (docs/decisions/0002-customer-understanding.md).
    "I forgot my PIN", "recover my access key", "forgot my passcode", "the code I log in with doesn't work",
])
def test_a_pin_key_or_passcode_stays_a_password_reset(text):
    [m] = second_factor_guard().process([parsed(text, [("request_password_reset", 0.9), ("report_lost_2fa", 0.1)])])
    assert m.get(INTENT)["name"] == "request_password_reset" and m.get(INTENT_OVERRIDE_KEY) is None
