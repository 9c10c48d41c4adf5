"""Export a text run (RetroMAE / DupMAE) as a Hugging Face `BertModel` folder: config.json, model.safetensors,
the run's tokenizer.json with tokenizer_config.json, and the sentence-transformers files for [CLS] pooling.

anymae's `TextTokenizer` + `BertEncoder` are BERT's embeddings + encoder parameter for parameter; BERT's
pooler (not trained here) is written as identity weights, so `pooler_output` is tanh([CLS])."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from .checkpoint import save_weights
from .files import write_text

LAYER_KEYS = {  # anymae BertLayer name -> Hugging Face BertLayer name
    "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
    "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense", "output": "output.dense", "out_norm": "output.LayerNorm",
}


def bert_state(model) -> dict[str, torch.Tensor]:
    """anymae text model -> `BertModel` state dict (embeddings, encoder layers, identity pooler)."""
    tok, enc = model.tokenizer, model.encoder
    state = {"embeddings.word_embeddings.weight": tok.word.weight,
             "embeddings.position_embeddings.weight": tok.positions.weight,
             "embeddings.token_type_embeddings.weight": tok.token_type.weight,
             "embeddings.LayerNorm.weight": enc.embed_norm.weight, "embeddings.LayerNorm.bias": enc.embed_norm.bias,
             "pooler.dense.weight": torch.eye(enc.dim), "pooler.dense.bias": torch.zeros(enc.dim)}
    for i, layer in enumerate(enc.layers):
        for ours, theirs in LAYER_KEYS.items():
            part = getattr(layer, ours)
            state[f"encoder.layer.{i}.{theirs}.weight"] = part.weight
            state[f"encoder.layer.{i}.{theirs}.bias"] = part.bias
    return {k: v.detach().float().contiguous() for k, v in state.items()}


def bert_config(model) -> dict:
    tok, enc = model.tokenizer, model.encoder
    return {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": tok.vocab_size,
            "hidden_size": enc.dim, "num_hidden_layers": enc.depth, "num_attention_heads": enc.heads,
            "intermediate_size": enc.layers[0].intermediate.out_features, "hidden_act": "gelu",
            "hidden_dropout_prob": enc.dropout, "attention_probs_dropout_prob": enc.dropout,
            "max_position_embeddings": tok.max_len, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": enc.eps, "pad_token_id": tok.pad_id, "position_embedding_type": "absolute"}


def export_bert(model, config: dict, run: Path, out: Path) -> tuple[Path, list[str], list[str]]:
    """Write `model` as a BertModel folder in `out` -> (folder, files, notes)."""
    tokenizer = Path(run) / "tokenizer.json"
    if not tokenizer.is_file():
        raise ValueError(f"{run}: no tokenizer.json in this text run; it cannot be used without its vocabulary")
    if getattr(model.encoder, "causal", False):
        raise ValueError(f"{run}: recipe {config.get('recipe')!r} is a causal LM; a BertModel attends both ways, "
                         "so --to hf would change what it computes")
    out.mkdir(parents=True, exist_ok=True)
    save_weights(bert_state(model), out / "model.safetensors", metadata={"format": "pt"})
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    tok, dim = model.tokenizer, model.encoder.dim
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                "mask_token": "[MASK]"}
    files = {
        "config.json": bert_config(model),
        "tokenizer_config.json": {"tokenizer_class": "BertTokenizerFast", "do_lower_case": True,
                                  "model_max_length": tok.max_len, **specials},
        "special_tokens_map.json": specials,
        "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
        "sentence_bert_config.json": {"max_seq_length": tok.max_len, "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": dim, "pooling_mode_cls_token": True,
                                  "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
                                  "pooling_mode_mean_sqrt_len_tokens": False},
    }
    for name, payload in files.items():
        write_text(out / name, json.dumps(payload, indent=2) + "\n")
    notes = ["[CLS] pooling for sentence-transformers (RetroMAE's representation)"]
    if getattr(model, "representation", "cls") != "cls":
        notes.append("DupMAE's bag-of-words half of the representation needs the masked-LM head, which BertModel "
                     "does not hold: the export gives the [CLS] half")
    return out, ["model.safetensors", "tokenizer.json", *files], notes
