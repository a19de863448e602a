"""An SBML model read into SymPy: states, parameters, rules, reactions, initial values.

libsbml reads the file, sbmlmath turns MathML into SymPy, and `_sympy_jax` evaluates the
result with `jax.numpy`. Species with `hasOnlySubstanceUnits="false"` are integrated as
concentrations (compartments must be constant), others as amounts. Anything outside this
subset (events, algebraic rules, delays, fast reactions, variable stoichiometry, variable
compartments, conversion factors) is refused with one line naming it.
"""

from pathlib import Path

import libsbml
import sbmlmath
import sympy as sp

from ._errors import PetabError
from ._model import SbmlModel
from ._sympy_jax import check


def _math(sbase, where: str) -> sp.Expr:
    try:
        expr = sp.sympify(sbmlmath.sbml_math_to_sympy(sbase))
    except Exception as error:  # sbmlmath raises various types for math it does not know
        raise PetabError(f"{where}: cannot read its math ({error})") from None
    times = {s: sp.Symbol("time") for s in expr.free_symbols if isinstance(s, sbmlmath.TimeSymbol)}
    return expr.xreplace(times)


def read_sbml(path: Path) -> SbmlModel:
    """Read an SBML file into an `SbmlModel`.

    **Raises:** `PetabError` naming the file and the element for an unreadable file or an
    unsupported feature.
    """
    document = libsbml.readSBMLFromFile(str(path))
    for i in range(document.getNumErrors()):
        error = document.getError(i)
        if error.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            message = error.getMessage().strip().splitlines()[0]
            raise PetabError(f"{path}: line {error.getLine()}: {message}")
    properties = libsbml.ConversionProperties()
    properties.addOption("expandFunctionDefinitions", True)
    if document.convert(properties) != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise PetabError(f"{path}: function definitions could not be expanded")
    model = document.getModel()
    if model is None:
        raise PetabError(f"{path}: no <model> element")
    _refuse_unsupported(model, path)

    compartments = {c.getId(): c for c in model.getListOfCompartments()}
    species = {s.getId(): s for s in model.getListOfSpecies()}
    assignment, rate_rules = {}, {}
    for rule in model.getListOfRules():
        where = f"{path}: rule for {rule.getVariable()!r}"
        if rule.isAlgebraic():
            raise PetabError(f"{path}: algebraic rules are not supported")
        target = assignment if rule.isAssignment() else rate_rules
        target[rule.getVariable()] = _math(rule, where)
    for name in (*assignment, *rate_rules):
        if name in compartments:
            raise PetabError(f"{path}: compartment {name!r} changes in time (not supported)")
    initial_assignments = {
        a.getSymbol(): _math(a, f"{path}: initial assignment of {a.getSymbol()!r}")
        for a in model.getListOfInitialAssignments()
    }

    states = [s for s in species if s not in assignment]
    states += [p.getId() for p in model.getListOfParameters() if p.getId() in rate_rules]
    parameters, defaults = [], []
    for item in (*model.getListOfParameters(), *model.getListOfCompartments()):
        name = item.getId()
        if name in assignment or name in rate_rules or name in initial_assignments:
            continue
        parameters.append(name)
        defaults.append(item.getSize() if name in compartments else item.getValue())

    definitions = dict(assignment)
    definitions.update({k: v for k, v in initial_assignments.items() if k not in states})
    flux = {s: sp.Integer(0) for s in states}
    for reaction in model.getListOfReactions():
        rid = reaction.getId()
        law = reaction.getKineticLaw()
        if law is None or not law.isSetMath():
            raise PetabError(f"{path}: reaction {rid!r} has no kinetic law")
        rate = _math(law, f"{path}: kinetic law of reaction {rid!r}")
        local = [*law.getListOfParameters(), *law.getListOfLocalParameters()]
        rate = rate.xreplace({sp.Symbol(q.getId()): sp.Float(q.getValue()) for q in local})
        definitions[rid] = rate
        for sign, refs in ((-1, reaction.getListOfReactants()), (1, reaction.getListOfProducts())):
            for ref in refs:
                s = species[ref.getSpecies()]
                if s.getBoundaryCondition() or s.getConstant() or s.getId() not in flux:
                    continue
                flux[s.getId()] += sign * sp.Float(ref.getStoichiometry()) * sp.Symbol(rid)

    rates, initial = [], {}
    for name in states:
        if name in species:
            s = species[name]
            volume = sp.Symbol(s.getCompartment())
            amounts = s.getHasOnlySubstanceUnits()
            rate = rate_rules.get(name, flux[name] if amounts else flux[name] / volume)
            if s.isSetInitialConcentration():
                value = sp.Float(s.getInitialConcentration())
                start = value * volume if amounts else value
            elif s.isSetInitialAmount():
                value = sp.Float(s.getInitialAmount())
                start = value if amounts else value / volume
            else:
                start = None
        else:
            rate = rate_rules[name]
            value = model.getParameter(name).getValue()
            start = sp.Float(value) if value == value else None
        start = initial_assignments.get(name, start)
        if start is None:
            raise PetabError(f"{path}: {name!r} has no initial value")
        rates.append(rate)
        initial[name] = start

    result = SbmlModel(
        name=model.getId() or Path(path).stem,
        states=tuple(states),
        species=tuple(species),
        parameters=tuple(parameters),
        defaults=tuple(float(d) for d in defaults),
        rates=tuple(rates),
        definitions=definitions,
        initial=initial,
    )
    known = result.names()
    try:
        for name, expr in zip(states, rates, strict=True):
            check(expr, known, f"{path}: rate of {name!r}")
        for name, expr in definitions.items():
            check(expr, known, f"{path}: {name!r}")
        for name, expr in initial.items():
            check(expr, known, f"{path}: initial value of {name!r}")
    except ValueError as error:
        raise PetabError(str(error)) from None
    return result


def _refuse_unsupported(model, path) -> None:
    """One line naming the first SBML feature outside the supported subset."""
    if model.getNumEvents():
        raise PetabError(f"{path}: events are not supported ({model.getNumEvents()} events)")
    if model.getNumConstraints():
        raise PetabError(f"{path}: constraints are not supported")
    if model.isSetConversionFactor():
        raise PetabError(f"{path}: conversion factors are not supported")
    for reaction in model.getListOfReactions():
        if reaction.isSetFast() and reaction.getFast():
            raise PetabError(f"{path}: fast reaction {reaction.getId()!r} is not supported")
        for ref in (*reaction.getListOfReactants(), *reaction.getListOfProducts()):
            if ref.isSetStoichiometryMath() or (ref.isSetId() and not ref.getConstant()):
                raise PetabError(
                    f"{path}: variable stoichiometry in reaction {reaction.getId()!r} "
                    "is not supported"
                )
    for s in model.getListOfSpecies():
        if s.isSetConversionFactor():
            raise PetabError(f"{path}: conversion factors are not supported")
    for c in model.getListOfCompartments():
        if not c.getConstant():
            raise PetabError(f"{path}: compartment {c.getId()!r} is not constant")
