"""The papers' claims the reproduction report checks, as data.

Every :class:`Claim` records what a paper says (a short quote), where (paper and section /
table / figure), on which data set and architecture, the paper's numbers when the text gives
them (``values``: method -> number, or method -> one number per ``eps`` point), and how our
measurement is checked against it (``check``):

- ``Ordering``: a qualitative statement ("DVERGE has the lowest within-ensemble
  transferability", "ADP raises ensemble diversity over baseline"). Checked on our zoo
  whatever the data set — orderings are what should carry over from CIFAR-10 to
  Fashion-MNIST.
- ``Numeric``: the paper's numbers themselves. Compared only when the paper measured the
  same data set with the same protocol (then within ``tolerance``, our choice, stated in
  the report); otherwise the verdict is "not comparable".

Numbers are transcribed from /work/shared/papers/*.txt (DVERGE main text and appendix C.3,
ADP Table 1-2, SMD Table 1-2, CCE Table 6-7); a claim whose text gives no number records
the qualitative statement only. Accuracies are fractions in [0, 1]. Method keys are the
project's: baseline, adp, gal, dverge, smd, smd_plus, advt, dverge_advt, cce_rm, cce_dm, trs,
igat_adp, igat_dverge. The TRS and iGAT papers are not in papers/: their claims quote the
papers' abstracts (public) and record no numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

#: the quantities a claim can be about; engine/report/ measures each of them per ensemble.
Quantity = Literal[
    "clean_accuracy",          # ensemble clean accuracy
    "transferability",         # mean off-diagonal within-ensemble attack success rate at the report ε
    "whitebox_accuracy",       # white-box PGD accuracy at the report ε
    "whitebox_mean",           # mean white-box accuracy over the ε grid (ε > 0): "across the range"
    "blackbox_accuracy",       # black-box transfer accuracy at the report ε
    "blackbox_mean",           # mean black-box accuracy over the ε grid (ε > 0)
    "vulnerability_diversity",  # DVERGE Eq. 2, mean over pairs (higher = more diverse)
    "adp_logdet",              # ADP Eq. 3 log det of all members (higher = more diverse)
    "gradient_cosine",         # GAL loss-gradient cosine, mean over pairs (lower = less coherent)
    "saliency_cosine",         # SMD Eq. 2 saliency cosine, mean over pairs (lower = less aligned)
]

DVERGE = "DVERGE (Yang et al.)"
ADP = "ADP (Pang et al.)"
SMD = "SMD (Bogun et al.)"
CCE = "CCE (Bui et al., AAAI 2021)"
TRS = "TRS (Yang et al., NeurIPS 2021)"
IGAT = "iGAT (Deng & Mu, NeurIPS 2023)"
_TRS_ABSTRACT = ("we propose an effective Transferability Reduced Smooth (TRS) ensemble training strategy to train a "
                 "robust ensemble with low transferability by enforcing both gradient orthogonality and model "
                 "smoothness between base models ... demonstrating that the proposed TRS outperforms all baselines "
                 "significantly.")
_IGAT_ABSTRACT = ("Being tested over various existing ensemble adversarial defense techniques, iGAT is capable of "
                  "boosting their performance by up to 17% evaluated using CIFAR10 and CIFAR100 datasets under both "
                  "white-box and black-box attacks.")


@dataclass(frozen=True)
class Ordering:
    """``subject`` is ``relation`` than/among ``others`` in ``quantity``.

    relation: "lowest"/"highest" — every subject below/above every other; "less"/"greater"
    — the same, read pairwise (subject < each other); "close" — within ``margin`` of each
    other (e.g. "comparable clean accuracy")."""

    quantity: Quantity
    subject: tuple[str, ...]
    relation: Literal["lowest", "highest", "less", "greater", "close"]
    others: tuple[str, ...]
    margin: float = 0.0  # only for "close" (absolute, in the quantity's unit)


@dataclass(frozen=True)
class Numeric:
    """The paper's numbers for ``quantity``; compared within ``tolerance`` (absolute) when
    ``comparable`` is None and the data set matches ours, else "not comparable"."""

    quantity: Quantity
    tolerance: float = 0.03
    comparable: str | None = None  # reason the protocol differs from ours, if it does


Check = Union[Ordering, Numeric]


@dataclass(frozen=True)
class Claim:
    id: str
    table: str  # report table: clean_accuracy | transferability | whitebox | blackbox | diversity
    paper: str
    where: str
    quote: str
    dataset: str  # the paper's data set for this claim: cifar10 | mnist | fashion_mnist
    arch: str
    check: Check
    values: dict = field(default_factory=dict)  # method -> number or list over ``eps``
    eps: tuple[float, ...] = ()  # ε of each value in ``values`` lists (0 = clean)
    note: str = ""


# DVERGE appendix C.3 Tables 4-5 use these ε (first column: clean accuracy).
_C3_EPS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07)

#: DVERGE Fig. 3 (CIFAR-10, 3 x ResNet-20, ε = 0.03): attack success rate from row member
#: to column member.
DVERGE_FIG3 = {
    "baseline": [[1.00, 0.98, 0.98], [0.96, 1.00, 0.98], [0.97, 0.98, 1.00]],
    "adp": [[1.00, 0.73, 0.65], [0.58, 1.00, 0.59], [0.60, 0.68, 1.00]],
    "gal": [[1.00, 0.83, 0.78], [0.81, 1.00, 0.22], [0.79, 0.48, 1.00]],
    "dverge": [[1.00, 0.04, 0.03], [0.05, 1.00, 0.04], [0.06, 0.05, 1.00]],
}


def off_diagonal_mean(matrix: list[list[float]]) -> float:
    k = len(matrix)
    return sum(matrix[i][j] for i in range(k) for j in range(k) if i != j) / (k * (k - 1))


CLAIMS: list[Claim] = [
    # ------------------------------------------------------------------ clean accuracy
    Claim("dverge-c3-clean", "clean_accuracy", DVERGE, "Appendix C.3, Tables 4-5 (clean column, /3 rows)",
          "Accuracy v.s. ε ... The results are averaged over three independent runs.",
          "cifar10", "3 x ResNet-20", Numeric("clean_accuracy"),
          values={"baseline": 0.939, "adp": 0.928, "gal": 0.883, "dverge": 0.913, "advt": 0.772,
                  "dverge_advt": 0.814}),
    Claim("smd-t1-clean", "clean_accuracy", SMD, "§4.3, Table 1 (F-MNIST, Clean column)",
          "White-box attacks of the magnitude ε = 0.3 on an ensemble of 3 LeNet-5 models for MNIST and F-MNIST",
          "fashion_mnist", "3 x LeNet-5", Numeric("clean_accuracy", tolerance=0.03),
          values={"baseline": 0.919, "adp": 0.914, "gal": 0.914, "dverge": 0.918, "smd": 0.911, "smd_plus": 0.916},
          note="SMD trains 50 epochs with Adam; the zoo's quick preset trains a few epochs on a subset."),
    Claim("dverge-comparable-clean", "clean_accuracy", DVERGE, "§4.3",
          "DVERGE, even with the least sub-models, outperforms each case of the other methods ... and achieves "
          "comparable clean accuracy.", "cifar10", "3 x ResNet-20",
          Ordering("clean_accuracy", ("dverge",), "close", ("baseline",), margin=0.03),
          note="'comparable' read as within 3 points of the baseline (Table 4: 91.3% vs 93.9%)."),
    Claim("dverge-advt-clean-over-advt", "clean_accuracy", DVERGE, "§4.4, Fig. 5",
          "DVERGE+AdvT encourages the ensemble to learn diverse non-robust features alongside robust features, "
          "leading to a higher clean accuracy", "cifar10", "5 x ResNet-20",
          Ordering("clean_accuracy", ("dverge_advt",), "greater", ("advt",))),
    Claim("dverge-advt-clean-below-dverge", "clean_accuracy", DVERGE, "§4.4, Fig. 5",
          "Forcing the inclusion of robust features causes DVERGE+AdvT to sacrifice the accuracy on clean examples "
          "comparing to performing DVERGE only.", "cifar10", "5 x ResNet-20",
          Ordering("clean_accuracy", ("dverge_advt",), "less", ("dverge",))),
    Claim("adp-t1-clean", "clean_accuracy", ADP, "§4.2, Table 1 (ensemble error rates, ADP_2,0.5)",
          "although the ADP training causes higher error rates on individual networks, it leads to lower error "
          "rates on the ensembles", "mnist", "3 x ResNet-20", Numeric("clean_accuracy"),
          values={"baseline": 1 - 0.0032, "adp": 1 - 0.0028},
          note="MNIST ensemble error 0.32% (baseline) vs 0.28% (ADP); CIFAR-10: 6.78% vs 6.56%."),
    Claim("adp-clean-over-baseline", "clean_accuracy", ADP, "§4.2, Table 1",
          "it leads to lower error rates on the ensembles", "cifar10", "3 x ResNet-20",
          Ordering("clean_accuracy", ("adp",), "greater", ("baseline",))),
    Claim("smd-clean-tradeoff", "clean_accuracy", SMD, "§4.3",
          "the accuracy on normal images (without adversarial attacks) slightly decreases for all regularizers",
          "fashion_mnist", "3 x LeNet-5",
          Ordering("clean_accuracy", ("adp", "gal", "dverge", "smd", "smd_plus"), "less", ("baseline",))),
    Claim("cce-dm-clean", "clean_accuracy", CCE, "'Improving Natural Accuracy', Table 7",
          "CCE-DM significantly improves natural accuracy of the ensemble model by a large margin.",
          "cifar10", "3 x CNN / ResNet", Ordering("clean_accuracy", ("cce_dm",), "greater", ("cce_rm",)),
          values={"cce_rm": 0.849, "cce_dm": 0.916}, note="Table 7, ResNet_3 row: CCE-RM 84.9%, CCE-DM 91.6%."),
    # ------------------------------------------------------------------ within-ensemble transferability
    Claim("dverge-fig3", "transferability", DVERGE, "§4.2, Fig. 3 (ε = 0.03, mean off-diagonal of the matrices)",
          "among all adversarial examples that successfully break one sub-model, only 3-6% of them could lead to "
          "misclassification on other sub-models", "cifar10", "3 x ResNet-20", Numeric("transferability"),
          values={m: round(off_diagonal_mean(v), 4) for m, v in DVERGE_FIG3.items()}, eps=(0.03,)),
    Claim("dverge-lowest-transfer", "transferability", DVERGE, "§4.2, Fig. 3; Appendix C.2",
          "Compared with other ensemble methods, DVERGE suppresses the transferability to a much lower level",
          "cifar10", "3 x ResNet-20", Ordering("transferability", ("dverge",), "lowest", ("baseline", "adp", "gal"))),
    Claim("baseline-highest-transfer", "transferability", DVERGE, "§4.2, Fig. 3",
          "Baseline: 0.96-0.98 off-diagonal (ADP: 'transference of 60% to 70%', GAL up to 0.83, DVERGE 0.03-0.06)",
          "cifar10", "3 x ResNet-20",
          Ordering("transferability", ("baseline",), "highest", ("adp", "gal", "dverge"))),
    Claim("adp-alleviates-transfer", "transferability", ADP, "§4.4, Fig. 3",
          "the ADP training can significantly alleviate the transferability among the members of the ensembles",
          "cifar10", "3 x ResNet-20", Ordering("transferability", ("adp",), "less", ("baseline",))),
    Claim("smd-transfer", "transferability", SMD, "§4.3 'Transferability', Fig. 5 (F-MNIST, PGD)",
          "SMD and SMD+ have high ensemble resilience ... Compared to the naive ensemble and the DV. method, we see "
          "improved performance", "fashion_mnist", "3 x LeNet-5",
          Ordering("transferability", ("smd", "smd_plus"), "less", ("baseline", "dverge")),
          note="Fig. 5 numbers are in the figure only, not in the text."),
    Claim("cce-more-transferable", "transferability", CCE, "'Transferability among Ensemble Members', Table 6",
          "the adversarial examples {x_a^1}, {x_a^2} in our method are more transferable than those in ADV-EN "
          "and ADP", "cifar10", "2 x ResNet", Ordering("transferability", ("cce_rm",), "greater", ("advt",)),
          note="CCE's T (sum of accuracy gaps; smaller = more transferable): CCE-RM 33.7%, ADV-EN 65.5%, "
               "ADP 59.3%. ADV-EN is the adversarially trained ensemble (our advt)."),
    Claim("trs-low-transfer", "transferability", TRS, "Abstract (full text not read: no section cited)",
          _TRS_ABSTRACT, "cifar10", "3 x ResNet-20", Ordering("transferability", ("trs",), "less", ("baseline",))),
    # ------------------------------------------------------------------ white-box accuracy vs ε
    Claim("dverge-t5", "whitebox", DVERGE, "Appendix C.3, Table 5 (/3 rows)",
          "Accuracy v.s. ε against white-box attacks.", "cifar10", "3 x ResNet-20", Numeric("whitebox_accuracy"),
          eps=_C3_EPS, values={
              "baseline": [0.939, 0.011, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
              "adp": [0.928, 0.093, 0.004, 0.0, 0.0, 0.0, 0.0, 0.0],
              "gal": [0.883, 0.093, 0.003, 0.0, 0.0, 0.0, 0.0, 0.0],
              "dverge": [0.913, 0.374, 0.102, 0.022, 0.004, 0.002, 0.0, 0.0],
              "advt": [0.772, 0.691, 0.592, 0.482, 0.361, 0.261, 0.172, 0.095],
              "dverge_advt": [0.814, 0.714, 0.591, 0.441, 0.304, 0.198, 0.111, 0.055]}),
    Claim("dverge-whitebox-best", "whitebox", DVERGE, "§4.3, Fig. 4 (right)",
          "DVERGE, even with the least sub-models, outperforms each case of the other methods with higher "
          "accuracy in both black-box and white-box settings", "cifar10", "3 x ResNet-20",
          Ordering("whitebox_mean", ("dverge",), "highest", ("baseline", "adp", "gal"))),
    Claim("advt-whitebox-large-eps", "whitebox", DVERGE, "§4.4, Fig. 5",
          "Learning diverse non-robust features harms DVERGE+AdvT's robustness against white-box attacks with "
          "larger perturbations compared to AdvT alone.", "cifar10", "5 x ResNet-20",
          Ordering("whitebox_accuracy", ("dverge_advt",), "less", ("advt",)),
          note="Checked at the report ε (the data set's standard budget)."),
    Claim("adp-t2", "whitebox", ADP, "§4.3, Table 2 (MNIST, PGD-10, step ε/10)",
          "the results verify that our method significantly improves adversarial robustness", "mnist",
          "3 x ResNet-20", Numeric("whitebox_accuracy", tolerance=0.05), eps=(0.1, 0.15),
          values={"baseline": [0.507, 0.063], "adp": [0.828, 0.410]}),
    Claim("adp-whitebox", "whitebox", ADP, "§4.3, Tables 2-3",
          "the results verify that our method significantly improves adversarial robustness", "cifar10",
          "3 x ResNet-20", Ordering("whitebox_mean", ("adp",), "greater", ("baseline",))),
    Claim("smd-t1-pgd", "whitebox", SMD, "§4.3, Table 1 (F-MNIST, PGD, ε = 0.3)",
          "White-box attacks of the magnitude ε = 0.3 on an ensemble of 3 LeNet-5 models", "fashion_mnist",
          "3 x LeNet-5", Numeric("whitebox_accuracy", comparable="SMD uses PGD-10 with step ε/10 at ε = 0.3; "
                                 "the report uses PGD with step ε/5 at the standard ε"), eps=(0.3,),
          values={"baseline": [0.055], "adp": [0.058], "gal": [0.074], "dverge": [0.073], "smd": [0.110],
                  "smd_plus": [0.133]}),
    Claim("smd-whitebox-best", "whitebox", SMD, "§4.3, Table 1, Fig. 2",
          "The proposed SMD and SMD+ outperform the comparing baselines methods on all attack configurations and "
          "datasets.", "fashion_mnist", "3 x LeNet-5",
          Ordering("whitebox_mean", ("smd", "smd_plus"), "greater", ("baseline", "adp", "gal", "dverge"))),
    Claim("cce-whitebox", "whitebox", CCE, "'Robustness Evaluation', Tables 3-4",
          "With the same model capacity, our CCE-RM is consistently the best with all attacks", "cifar10",
          "3 x ResNet / CNN", Ordering("whitebox_accuracy", ("cce_rm",), "greater", ("advt",)),
          values={"advt": 0.438, "cce_rm": 0.486},
          note="Table 3, PGD k=250, ε=8/255: ADV-EN_3 43.8%, CCE-RM_3 48.6%. Our advt is ADV-EN."),
    Claim("trs-whitebox-best", "whitebox", TRS, "Abstract (full text not read: no section cited)", _TRS_ABSTRACT, "cifar10",
          "3 x ResNet-20", Ordering("whitebox_mean", ("trs",), "highest", ("baseline", "adp", "gal", "dverge")),
          note="'outperforms all baselines' read as the highest mean white-box accuracy over the ε grid among the "
               "non-adversarially-trained ensemble methods it is compared with. The shipped trs uses the paper's "
               "smoothness term (per-sample ‖∇ₓℓ‖₂); the authors' code's form (2·‖∇ₓ of the batch-mean CE‖², "
               "~1e-3 of the loss at λb = 2.5) gives no white-box gain over the baseline on the quick preset "
               "(engine/methods/trs.py)."),
    Claim("trs-whitebox-vs-baseline", "whitebox", TRS, "Abstract (full text not read: no section cited)",
          _TRS_ABSTRACT, "cifar10", "3 x ResNet-20", Ordering("whitebox_accuracy", ("trs",), "greater", ("baseline",)),
          note="'a robust ensemble ... by enforcing both gradient orthogonality and model smoothness' read as a "
               "higher white-box accuracy than the independently trained ensemble it starts from, checked at the "
               "report ε (the data set's standard budget). On the quick preset the gain shows from ε = 0.03 up; "
               "at ε ≤ 0.02 TRS's ~3-point clean-accuracy cost leaves it level with or below the baseline."),
    Claim("igat-adp-whitebox", "whitebox", IGAT, "Abstract (full text not read: no section cited; iGAT on ADP)", _IGAT_ABSTRACT, "cifar10",
          "ResNet-20 ensembles", Ordering("whitebox_accuracy", ("igat_adp",), "greater", ("adp",))),
    Claim("igat-dverge-whitebox", "whitebox", IGAT, "Abstract (full text not read: no section cited; iGAT on DVERGE)", _IGAT_ABSTRACT, "cifar10",
          "ResNet-20 ensembles", Ordering("whitebox_accuracy", ("igat_dverge",), "greater", ("dverge",))),
    # ------------------------------------------------------------------ black-box accuracy vs ε
    Claim("dverge-t4", "blackbox", DVERGE, "Appendix C.3, Table 4 (/3 rows; hold-out baseline surrogates)",
          "Accuracy v.s. ε against black-box transfer attacks generated from hold-out baseline ensembles.",
          "cifar10", "3 x ResNet-20", Numeric("blackbox_accuracy"), eps=_C3_EPS, values={
              "baseline": [0.939, 0.096, 0.001, 0.0, 0.0, 0.0, 0.0, 0.0],
              "adp": [0.928, 0.209, 0.006, 0.0, 0.0, 0.0, 0.0, 0.0],
              "gal": [0.883, 0.766, 0.594, 0.398, 0.232, 0.115, 0.058, 0.025],
              "dverge": [0.913, 0.832, 0.697, 0.510, 0.307, 0.158, 0.060, 0.015],
              "advt": [0.772, 0.763, 0.748, 0.732, 0.709, 0.687, 0.660, 0.627],
              "dverge_advt": [0.814, 0.797, 0.776, 0.753, 0.725, 0.691, 0.664, 0.626]}),
    Claim("dverge-blackbox-best", "blackbox", DVERGE, "§4.3, Fig. 4 (left)",
          "DVERGE, even with the least sub-models, outperforms each case of the other methods with higher "
          "accuracy in both black-box and white-box settings", "cifar10", "3 x ResNet-20",
          Ordering("blackbox_mean", ("dverge",), "highest", ("baseline", "adp", "gal"))),
    Claim("dverge-advt-blackbox", "blackbox", DVERGE, "§4.4, Fig. 5",
          "Compared to AdvT, DVERGE+AdvT ... leading to a higher clean accuracy and higher robustness against "
          "transfer attacks.", "cifar10", "5 x ResNet-20",
          Ordering("blackbox_accuracy", ("dverge_advt",), "greater", ("advt",))),
    Claim("smd-t2-pgd", "blackbox", SMD, "§4.3, Table 2 (F-MNIST, PGD, ε = 0.3)",
          "Black-box attacks of the magnitude ε = 0.3 on an ensemble of 3 LeNet-5 models", "fashion_mnist",
          "3 x LeNet-5", Numeric("blackbox_accuracy", comparable="SMD's surrogate is an ensemble trained with the "
                                 "same routine as the defended one, attacked with PGD-10 at ε = 0.3; the report "
                                 "uses hold-out baseline surrogates at the standard ε"), eps=(0.3,),
          values={"baseline": [0.331], "adp": [0.330], "gal": [0.440], "dverge": [0.447], "smd": [0.454],
                  "smd_plus": [0.471]}),
    Claim("smd-plus-blackbox-best", "blackbox", SMD, "§4.3 'Robustness to Black-Box Adversarial Attacks', Table 2",
          "SMD+ is on par with DVERGE (DV.) on MNIST and consistently outperforms other methods. On F-MNIST SMD+ "
          "has a significant gap in performance compared to the baselines", "fashion_mnist", "3 x LeNet-5",
          Ordering("blackbox_mean", ("smd_plus",), "highest", ("baseline", "adp", "gal", "dverge", "smd"))),
    Claim("igat-adp-blackbox", "blackbox", IGAT, "Abstract (full text not read: no section cited; iGAT on ADP)", _IGAT_ABSTRACT, "cifar10",
          "ResNet-20 ensembles", Ordering("blackbox_accuracy", ("igat_adp",), "greater", ("adp",))),
    Claim("igat-dverge-blackbox", "blackbox", IGAT, "Abstract (full text not read: no section cited; iGAT on DVERGE)", _IGAT_ABSTRACT, "cifar10",
          "ResNet-20 ensembles", Ordering("blackbox_accuracy", ("igat_dverge",), "greater", ("dverge",))),
    # ------------------------------------------------------------------ each method's own diversity metric
    Claim("dverge-diversity", "diversity", DVERGE, "§4.2, Fig. 2; §5",
          "training with DVERGE objective can effectively increase the vulnerability diversity between "
          "sub-models", "cifar10", "3 x ResNet-20",
          Ordering("vulnerability_diversity", ("dverge",), "greater", ("baseline",)),
          note="Fig. 2 gives the trend as a plot only; Appendix B Table 2 reports the Eq. 5 training loss "
               "(not Eq. 2) of two baseline models: 1.726 / 3.302 / 4.738 at ε = 0.03 / 0.05 / 0.07."),
    Claim("adp-diversity", "diversity", ADP, "§4.3; Appendix B.3, Fig. 5",
          "when the LED part is inactive as in the ADP_2,0 setting, the learned ensemble diversity is still much "
          "larger than the baseline ... the existence of the LED part further explicitly encourages the ensemble "
          "diversity", "cifar10", "3 x ResNet-20", Ordering("adp_logdet", ("adp",), "greater", ("baseline",)),
          note="The medians of log ED are in Fig. 5's inset only, not in the text."),
    Claim("gal-coherence", "diversity", SMD, "§2 (description of GAL, Kariyappa & Qureshi 2019)",
          "GAL is calculated using the cosine similarity (CS) between the gradients of two different models ... "
          "the authors added the term GAL = log(Σ exp(CS)) to the learning objective.", "cifar10", "-",
          Ordering("gradient_cosine", ("gal",), "less", ("baseline",)),
          note="The GAL paper itself is not in papers/; the claim is GAL's training objective as SMD describes it."),
    Claim("smd-alignment", "diversity", SMD, "§3.1-3.2, Eq. 2-3",
          "By minimizing our learning objective that includes a saliency-based sensitivity measure, we enforce "
          "the ensemble members to have misaligned and non-overlapping sensitivity", "fashion_mnist", "3 x LeNet-5",
          Ordering("saliency_cosine", ("smd", "smd_plus"), "less", ("baseline",))),
    Claim("cce-dm-diversity", "diversity", CCE, "'Improving Natural Accuracy'",
          "By disabling the crossing PO and strengthening DO, CCE-DM variant enforces the diversity more strictly",
          "cifar10", "3 x ResNet", Ordering("adp_logdet", ("cce_dm",), "greater", ("cce_rm",)),
          note="CCE defines no diversity metric of its own; measured with ADP's ensemble diversity (Eq. 3)."),
]

TABLES = {
    "clean_accuracy": "Clean accuracy",
    "transferability": "Within-ensemble transferability (DVERGE §4.2, Fig. 3)",
    "whitebox": "White-box accuracy vs ε (DVERGE §4.3, Fig. 4-5, Table 5)",
    "blackbox": "Black-box transfer accuracy vs ε (DVERGE §4.3, Fig. 4, Table 4)",
    "diversity": "Each method's own diversity metric",
}


def claims_for(table: str) -> list[Claim]:
    return [c for c in CLAIMS if c.table == table]
