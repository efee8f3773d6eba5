"""IFT780's (Université de Sherbrooke) module paths: prefix its imports with ``assignment.ift780.``.

``model.Model``, ``model.Solver``, ``layers.Dense``, ``layers.BatchNorm``, ``utils.model_loss``,
``utils.gradients`` and ``utils.data_utils`` hold the names its notebooks import, with its
signatures and return conventions: the layers and the model are the kit's ``nn.py`` (the object
API follows IFT780's), the training loop the kit's ``training.py`` (README, "Porting a course").
"""
