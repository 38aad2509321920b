# The two commands of the README. Each one sets up everything it needs on a fresh machine:
# a virtual environment in .venv with the CPU build of PyTorch, then this project with its
# notebook and test extras.
#
#   make notebooks [PROFILE=cpu] [ONLY="02 03"]   the main job: every notebook (or those whose name
#                                  starts with one of ONLY) through papermill -> build/$(PROFILE)/
#   make notebooks ONLY=13 DATA=path/to/corpus/ [KIND=text|image]   notebook 13 on your own data
#                                  (docs/your_data.md)
#   make test                      the test suite (CI runs this through .ci/run)
#   make lab                       JupyterLab on notebooks/, where a double-click opens a notebook
#   make student                   the course notebooks with their answers stubbed -> build/student/
#   make book [PROFILE=cpu]        the executed notebooks of build/$(PROFILE) and docs/ as a static site
#                                  -> build/$(PROFILE)/book/html/index.html (math typeset offline)
#   make book STUDENT=1            the student edition, from `make student`'s notebooks -> build/student/book/
#   make report                    the same as make book (its old name)

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= cpu
DEVICE  ?= auto
SEED    ?= 0
ONLY    ?=
# your own data for notebook 13 (a folder of train/valid/test.txt, one .txt file, or an .npz/.npy of images)
DATA    ?=
KIND    ?=
# make book STUDENT=1: the student edition of the book
STUDENT ?=
# The CPU build of torch 2.13.0. On a GPU machine use e.g. TORCH="torch==2.13.0" with the CUDA index.
TORCH   ?= torch==2.13.0
PIP_TORCH_ARGS ?=

LAB_ARGS ?=

BIN := $(VENV)/bin
# JupyterLab's settings overrides, read from the environment it runs in: a double-click on a
# py:percent file opens it as a notebook (jupytext's viewer), and no pop-up asks about news.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# The directory variables of the project; a relative one means the directory make runs in.
DIR_VARIABLES := DUVAE_DATA_MIRROR DUVAE_DATA_DIR DUVAE_RUNS_DIR DUVAE_RESULTS_DIR DUVAE_HE2019_DIR DUVAE_YOURS_DIR
# JupyterLab's kernels run in notebooks/, so those variables are handed to it absolute.
ABSOLUTE_DIRS = $(foreach v,$(DIR_VARIABLES),$(if $(value $(v)),$(v)='$(abspath $(value $(v)))'))

.PHONY: notebooks test lab setup clean-build student

setup: $(VENV)/.installed $(LAB_SETTINGS)

# constraints.txt: the exact versions the tests passed with (python -m duvae.runs.pins writes it)
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_TORCH_ARGS) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[notebooks,dev]"
	touch $@

$(LAB_SETTINGS): jupyter/lab/overrides.json $(VENV)/.installed
	mkdir -p $(@D)
	cp $< $@

notebooks: setup
	$(BIN)/python -m duvae.book.run --profile $(PROFILE) --device $(DEVICE) --seed $(SEED) $(if $(DATA),--data '$(DATA)') $(if $(KIND),--kind $(KIND)) $(ONLY)

test: setup
	$(BIN)/python -m pytest -q

lab: setup
	$(ABSOLUTE_DIRS) $(BIN)/jupyter lab notebooks/ $(LAB_ARGS)

# The student edition of the course notebooks (00-05): solution cells replaced by stubs, unexecuted.
student: setup
	$(BIN)/python -m duvae.book.course student --output build/student

# The book: the main job's executed notebooks (run `make notebooks PROFILE=...` first; nothing is
# executed again) and the pages of docs/ as a Jupyter Book, with MathJax shipped inside it.
.PHONY: book report
book: setup
	$(BIN)/python -m duvae.book.site --profile $(PROFILE) $(if $(STUDENT),--student)

report: book

clean-build:
	rm -rf build
