"""The Azure Functions entry point (v2 model): one blueprint per area, and telemetry set up before them."""

import azure.functions as func

from functions.alerts.blueprint import bp as alerts
from functions.cases.blueprint import bp as cases
from functions.cases.start_blueprint import bp as start
from functions.changes.blueprint import bp as changes
from functions.incidents.blueprint import bp as incidents
from functions.intake.blueprint import bp as intake
from functions.onboarding.blueprint import bp as onboarding
from functions.operations.blueprint import bp as operations
from functions.questions.blueprint import bp as questions
from functions.telemetry_setup import configure_from_environment
from functions.terms.blueprint import bp as terms
from functions.workspace.blueprint import bp as workspace
from functions.workspace.case_blueprint import bp as workspace_case
from functions.workspace.held_blueprint import bp as workspace_held
from functions.workspace.mail_blueprint import bp as workspace_mail
from functions.workspace.publishing_blueprint import bp as workspace_publishing
from functions.workspace.registry_blueprint import bp as workspace_registry

# Before any client exists (blueprints import their handlers on first call), so that the Azure SDK and Graph calls
# are traced.
configure_from_environment()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    operations,
    start,
    cases,
    questions,
    incidents,
    alerts,
    changes,
    terms,
    onboarding,
    intake,
    workspace,
    workspace_case,
    workspace_held,
    workspace_mail,
    workspace_publishing,
    workspace_registry,
):
    app.register_functions(blueprint)
