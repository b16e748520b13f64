"""A tiny random-weight T5 with a SentencePiece tokenizer trained on our own Russian sentences.

It is saved to a directory and loaded back through `from_pretrained`, so the tests run the
same code path as the real checkpoint; its summaries are gibberish, their shape is what we test.
"""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "В Казани открыли новую станцию метро, она примет двадцать тысяч пассажиров в сутки.",
    "Министерство сельского хозяйства повысило прогноз урожая зерна до рекордного уровня.",
    "Европейский союз обсуждает новый пакет санкций против нефтяной отрасли.",
    "Синоптики предупредили о сильной жаре в Москве на выходных.",
    "Визит президента в Новосибирск продлится два дня, в программе совещание по развитию Сибири.",
    "Курс рубля укрепился на открытии торгов Московской биржи.",
    "Футбольный клуб подписал контракт с вратарём молодёжной сборной на три года.",
    "Школы завершили ремонт к новому учебному году, проверки пройдут до конца августа.",
    "Губернатор области заявил, что регион подготовил предложения по строительству моста.",
    "Врачи советуют пить больше воды и не выходить на солнце в полдень.",
]


def build_tiny_t5(directory: Path) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(directory / "spiece"), vocab_size=400, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0, hard_vocab_limit=False,
        minloglevel=2,
    )
    # From the folder that holds spiece.model: transformers 4 reads the file, 5 converts it.
    tokenizer = T5Tokenizer.from_pretrained(str(directory), extra_ids=0, legacy=False)
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=8, num_layers=2, num_decoder_layers=2,
                      num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model_dir = directory / "tiny-rut5"
    T5ForConditionalGeneration(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def build_tiny_bert(directory: Path) -> Path:
    """A tiny random-weight BERT with a WordPiece vocabulary of our sentences' words: the real
    `from_pretrained` path of a sentence encoder."""
    import re

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    words = sorted({w for s in SENTENCES for w in re.findall(r"\w+", s.lower())})
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]), encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=128)
    model_dir = directory / "tiny-bert"
    BertModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir
