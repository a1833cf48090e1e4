"""The files in deploy/ are what the AWS CLI accepts, and carry the seed plan's thresholds.

Each ``--cli-input-json`` file is validated against the operation's input shape from botocore's
service models (the CLI validates with the same models before sending), so a misspelt key or a
wrong type fails here, not during a deploy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from snapagent.cli.config import env_name, settings_classes
from snapagent.cli.serve import ShutdownSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLOUDWATCH = DEPLOY / "cloudwatch"

# file -> (service, operation) it is the --cli-input-json of
CLI_INPUTS = {
    "ecs/task-definition.json": ("ecs", "RegisterTaskDefinition"),
    "ecs/service.json": ("ecs", "CreateService"),
    "ecs/run-migrations.json": ("ecs", "RunTask"),
    "elbv2/target-group.json": ("elbv2", "CreateTargetGroup"),
    "cloudwatch/alarm-high-cpu.json": ("cloudwatch", "PutMetricAlarm"),
    "cloudwatch/alarm-errors.json": ("cloudwatch", "PutMetricAlarm"),
}


def _load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEPLOY / relative).read_text(encoding="utf-8"))
    return data


def _validate(service: str, operation: str, params: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_every_deploy_file_is_covered() -> None:
    files = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.json")}
    assert files == {*CLI_INPUTS, "cloudwatch/dashboard-body.json"}


@pytest.mark.parametrize("relative", sorted(CLI_INPUTS))
def test_cli_input_matches_the_aws_api_shape(relative: str) -> None:
    _validate(*CLI_INPUTS[relative], _load(relative))


def test_validation_catches_a_wrong_key() -> None:
    broken = {**_load("cloudwatch/alarm-errors.json"), "Treshold": 10}
    with pytest.raises(AssertionError, match="Unknown parameter"):
        _validate("cloudwatch", "PutMetricAlarm", broken)


def test_cpu_alarm_is_above_70_percent_for_two_5_minute_periods() -> None:
    alarm = _load("cloudwatch/alarm-high-cpu.json")
    assert alarm["AlarmName"] == "rag-backend-high-cpu"
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ECS", "CPUUtilization")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (70, "GreaterThanThreshold")
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (300, 2, 2)
    dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dims == {"ClusterName": "rag-cluster", "ServiceName": "rag-backend-service"}


def test_error_alarm_is_more_than_10_errorcount_in_one_minute() -> None:
    alarm = _load("cloudwatch/alarm-errors.json")
    assert alarm["AlarmName"] == "rag-backend-errors"
    assert (alarm["Namespace"], alarm["MetricName"]) == ("RAGBackend", "ErrorCount")
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 60, 1)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (10, "GreaterThanThreshold")
    # The API publishes ErrorCount without dimensions; an alarm with any would never match.
    assert "Dimensions" not in alarm
    assert alarm["TreatMissingData"] == "notBreaching"  # no errors logged means no data


def test_dashboard_is_accepted_by_put_dashboard_and_has_the_seed_widgets() -> None:
    body = (CLOUDWATCH / "dashboard-body.json").read_text(encoding="utf-8")
    _validate(
        "cloudwatch", "PutDashboard", {"DashboardName": "RAG-Backend-Phase5", "DashboardBody": body}
    )
    widgets = json.loads(body)["widgets"]
    metrics = {
        (line[0], line[1], w["properties"].get("stat")): w["properties"]
        for w in widgets
        if w["type"] == "metric"
        for line in w["properties"]["metrics"]
        if isinstance(line[0], str)
    }
    cpu = metrics[("AWS/ECS", "CPUUtilization", "Average")]
    memory = metrics[("AWS/ECS", "MemoryUtilization", "Average")]
    assert cpu["period"] == memory["period"] == 300
    assert ("AWS/ApplicationELB", "TargetResponseTime", "Average") in metrics
    assert ("AWS/ApplicationELB", "RequestCount", "Sum") in metrics
    assert ("RAGBackend", "ErrorCount", "Sum") in metrics

    def thresholds(props: dict[str, Any]) -> list[float]:
        return [a["value"] for a in props["annotations"]["horizontal"]]

    # warning / critical from the seed's table: CPU 50/70 %, memory 70/85 %, response 1/2 s.
    assert thresholds(cpu) == [50, 70]
    assert thresholds(memory) == [70, 85]
    assert thresholds(metrics[("AWS/ApplicationELB", "TargetResponseTime", "Average")]) == [1, 2]
    (logs,) = [w for w in widgets if w["type"] == "log"]
    query = logs["properties"]["query"]
    assert "SOURCE '/ecs/rag-backend'" in query
    assert "/ERROR/" in query
    assert "limit 20" in query


def test_task_definition_runs_the_image_as_the_dockerfile_does() -> None:
    task = _load("ecs/task-definition.json")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    (container,) = task["containerDefinitions"]
    assert container["command"] == ["serve"]  # never migrations on a replica's start
    assert container["user"] == "10001:10001"
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/rag-backend"
    secrets = {s["name"] for s in container["secrets"]}
    assert {"DATABASE_URL", "ANTHROPIC_API_KEY", "SNAPAGENT_JWT_SECRET"} <= secrets
    plain = {e["name"] for e in container["environment"]}
    assert not plain & secrets, "a secret must come from Secrets Manager, not plain environment"
    assert "/health" in " ".join(container["healthCheck"]["command"])
    migrate = _load("ecs/run-migrations.json")["overrides"]["containerOverrides"][0]
    assert (migrate["name"], migrate["command"]) == (container["name"], ["db", "upgrade"])


def test_tasks_are_killed_only_after_a_graceful_shutdown_can_finish() -> None:
    (container,) = _load("ecs/task-definition.json")["containerDefinitions"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    shutdown = ShutdownSettings(graceful_timeout_s=int(env["SNAPAGENT_GRACEFUL_TIMEOUT_S"]))
    needed = shutdown.graceful_timeout_s + shutdown.record_timeout_s
    assert container["stopTimeout"] > needed
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    assert int(compose["services"]["api"]["stop_grace_period"].rstrip("s")) > needed


def test_every_variable_the_deployment_sets_is_a_real_setting() -> None:
    known = {
        env_name(cls, name, field)
        for cls in settings_classes()
        for name, field in cls.model_fields.items()
    }
    (container,) = _load("ecs/task-definition.json")["containerDefinitions"]
    on_ecs = {e["name"] for e in container["environment"] + container["secrets"]}
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    in_compose = set(compose["services"]["api"]["environment"])
    assert on_ecs - known == set()
    assert in_compose - known == set()


def test_service_rolls_back_and_the_balancer_probes_readiness() -> None:
    service = _load("ecs/service.json")
    assert (service["cluster"], service["serviceName"]) == ("rag-cluster", "rag-backend-service")
    assert service["desiredCount"] >= 2
    config = service["deploymentConfiguration"]
    assert config["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert set(config["alarms"]["alarmNames"]) == {"rag-backend-high-cpu", "rag-backend-errors"}
    assert _load("elbv2/target-group.json")["HealthCheckPath"] == "/health/ready"
