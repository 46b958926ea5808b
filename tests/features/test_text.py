import numpy as np
import pytest

from vamer.errors import VamerError
from vamer.features.text import HuggingFaceEncoder, TrainableTokens, UseEncoder, make_text_encoder

SENTENCES = ["오늘 아침에 버스를 타고 왔어요", "아 친구들도?", "그래서 어떻게 됐어", "mixed 한국어 and English 123"]


@pytest.fixture(scope="module")
def use():
    return UseEncoder(max_length=64)


def test_pooling_our_token_vectors_reproduces_the_package_encode(use):
    reference = use._use.encode(SENTENCES)
    for sentence, expected in zip(SENTENCES, reference):
        tokens = use.token_vectors(use.pieces(sentence))
        assert tokens.shape == (len(use.pieces(sentence)), 512)
        np.testing.assert_allclose(use.pooled_head(tokens), expected, atol=1e-5)


def test_use_shapes_masks_empty_and_truncation(use):
    vectors, mask = use.encode(SENTENCES + ["", "   "])
    assert vectors.shape == (6, 64, 512) and mask.shape == (6, 64)
    assert mask[0].sum() == len(use.pieces(SENTENCES[0]))
    assert not mask[4].any() and not mask[5].any() and (vectors[4] == 0).all()
    short = UseEncoder(max_length=4)
    _, cut = short.encode([SENTENCES[0]])
    assert cut.sum() == 4
    assert (use.sentence_vectors(["", SENTENCES[1]])[0] == 0).all()


def test_the_sentence_token_is_the_package_sentence_vector_followed_by_the_tokens(use):
    with_sentence = UseEncoder(max_length=64, sentence_token=True)
    vectors, mask = with_sentence.encode([SENTENCES[0], ""])
    plain, plain_mask = use.encode([SENTENCES[0]])
    np.testing.assert_allclose(vectors[0, 0], use.sentence_vectors([SENTENCES[0]])[0], atol=1e-5)
    n = int(plain_mask[0].sum())
    assert mask[0].sum() == n + 1 and np.array_equal(vectors[0, 1 : n + 1], plain[0, :n])
    assert not mask[1].any() and with_sentence.identity != use.identity


def test_a_text_gives_the_same_bits_whatever_the_threads_and_the_batch(use):
    """Issue 31: predict-time text vectors differed from the training item's in low bits on another
    machine.  A feature worker runs BLAS on one thread, the predictor on every core, and a threaded
    product may sum in another order (one float32 ulp can flip the cache's float16 rounding)."""
    from threadpoolctl import threadpool_limits

    text = "오늘 정말 재밌었어 친구들이랑 같이 놀러 갔거든"
    with threadpool_limits(limits=2, user_api="blas"):
        alone, _ = use.encode([text])
    with threadpool_limits(limits=1, user_api="blas"):
        batched, _ = use.encode(["다른 문장", text, ""])
    assert np.array_equal(alone[0], batched[1])


def tiny_bert(folder):
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "오늘", "친구", "##들", "아", "?"]
    # Cased: lower-casing would NFD-decompose Hangul into jamo.
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=False).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def test_hugging_face_encoder_from_a_local_folder(tmp_path):
    encoder = make_text_encoder(f"hf:{tiny_bert(tmp_path)}", max_length=8)
    assert isinstance(encoder, HuggingFaceEncoder) and encoder.dim == 16
    vectors, mask = encoder.encode(["아 친구들 ?", "", "오늘"])
    assert vectors.shape == (3, 8, 16)
    assert mask[0].sum() == 6 and mask[2].sum() == 3  # [CLS] ... [SEP]
    assert not mask[1].any() and (vectors[0][~mask[0]] == 0).all()
    assert encoder.identity.startswith(f"hf:{tmp_path.resolve()}")


def test_unknown_encoders_are_clear_errors(tmp_path):
    with pytest.raises(VamerError, match="unknown text encoder"):
        make_text_encoder("kobert")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VamerError, match="cannot load Hugging Face encoder"):
        make_text_encoder(f"hf:{tmp_path / 'empty'}")


def test_trainable_tokens_fit_on_train_texts_only():
    tokens = TrainableTokens(max_length=16).fit(["오늘 친구", "친구야 안녕"])
    ids, mask = tokens.encode(["오늘 친구", "전혀 다른 문장", ""])
    assert ids.dtype == np.int64 and ids.shape == (3, 16)
    assert (ids[0][mask[0]] > 1).all()  # every piece seen in training has its own id
    assert (ids[1][mask[1]] == 1).any()  # unseen pieces are UNK
    assert not mask[2].any()
    assert tokens.vocab_size == len(tokens.vocabulary) + 2
