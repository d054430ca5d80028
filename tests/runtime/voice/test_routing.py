"""GPU routing: warm fleet → GPU providers; cold → wake the Auto Scaling group (loopback moto
server) and serve from the external provider meanwhile; retryable errors fall back, boundedly."""
from __future__ import annotations

import httpx
import pytest

from runtime.providers.base import ProviderError
from runtime.voice.config import VoiceSettings
from runtime.voice.gpu import GpuFleet
from runtime.voice.metering import Meter
from runtime.voice.routing import ProviderRouter


async def _asg(endpoint: str, name: str):
    from aiobotocore.session import get_session

    session = get_session()
    async with session.create_client("ec2", region_name="us-east-1", endpoint_url=endpoint) as ec2:
        image = (await ec2.describe_images())["Images"][0]["ImageId"]
        await ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": image,
                                                                                      "InstanceType": "g4dn.xlarge"})
    async with session.create_client("autoscaling", region_name="us-east-1", endpoint_url=endpoint) as asg:
        await asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=1, DesiredCapacity=0,
                                            LaunchTemplate={"LaunchTemplateName": name},
                                            AvailabilityZones=["us-east-1a"])


async def _desired(endpoint: str, name: str) -> int:
    from aiobotocore.session import get_session

    async with get_session().create_client("autoscaling", region_name="us-east-1", endpoint_url=endpoint) as asg:
        groups = (await asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name]))["AutoScalingGroups"]
    return groups[0]["DesiredCapacity"]


async def _reply(router) -> str:
    out = []
    async for d in router.stream_llm(None, [{"role": "user", "content": "hi"}]):
        out.append(d.text)
    return "".join(out)


async def test_warm_fleet_serves_and_cold_fleet_is_woken_while_external_serves(peers, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    await _asg(moto_endpoint, "gpu-warm")
    async with httpx.AsyncClient() as http:
        warm = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", gpu_llm_url=peers.url,
                             gpu_asg_name="gpu-warm", aws_endpoint_url=moto_endpoint)
        router = ProviderRouter(warm, http, Meter(None, lambda *a: 0.0), GpuFleet(warm, http))
        assert (await _reply(router)).startswith("You said hi.")
        assert peers.requests[-1][0] == "ollama_chat" and peers.requests[-1][1]["body"]["keep_alive"] == "10m"

        await _asg(moto_endpoint, "gpu-cold")
        cold = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", gpu_llm_url="http://127.0.0.1:9",
                             gpu_asg_name="gpu-cold", aws_endpoint_url=moto_endpoint)
        fleet = GpuFleet(cold, http)
        router = ProviderRouter(cold, http, Meter(None, lambda *a: 0.0), fleet)
        assert (await _reply(router)).startswith("You said hi.")
        assert peers.requests[-1][0] == "openai_chat"  # the external provider answered meanwhile
        await fleet._wake_task
        assert fleet.last_error is None and fleet.wake_count == 1
        assert await _desired(moto_endpoint, "gpu-cold") == 1
        await _reply(router)
        assert fleet.wake_count == 1  # not re-woken on every call


async def test_retryable_errors_fall_back_boundedly(peers):
    async with httpx.AsyncClient() as http:
        vs = VoiceSettings(stt_provider="whisper", stt_url=peers.url + "/v1", provider_retries=1,
                           llm_provider="openai", llm_url=peers.url + "/v1")
        router = ProviderRouter(vs, http, Meter(None, lambda *a: 0.0), GpuFleet(vs, http))
        peers.fail_next["stt"] = 1
        t, _ = await router.transcribe(None, b"\x00\x01" * 8000, 16000)
        assert t.text == "hello world"
        peers.fail_next["stt"] = 5
        with pytest.raises(ProviderError) as info:
            await router.transcribe(None, b"\x00\x01" * 8000, 16000)
        assert info.value.status == 503
        assert peers.fail_next["stt"] == 3  # exactly two attempts: the call and one retry
        peers.fail_next["stt"] = 0
        peers.fail_next["llm"] = 1
        assert (await _reply(router)).startswith("You said hi.")
        peers.fail_next["llm"] = 0


async def test_deployed_fleet_discovers_its_node_through_the_aws_api(moto_endpoint, monkeypatch):
    """No fixed URLs (a deployed stack): the node in use is an InService instance of the group, found
    through the Auto Scaling and EC2 APIs; its provider URLs use the node software's ports.
    (Nothing is probed here: a moto instance's private address is not on this machine.)"""
    from aiobotocore.session import get_session

    from gpu_nodes.bootstrap import MODEL_PORTS
    from runtime.voice.gpu import NODE_PORTS

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    # The container ships runtime/ only, so the ports are written twice: they must agree.
    assert NODE_PORTS == {"llm": MODEL_PORTS["ollama"], "tts": MODEL_PORTS["tts"], "stt": MODEL_PORTS["stt"]}
    await _asg(moto_endpoint, "gpu-discover")
    async with httpx.AsyncClient() as http:
        vs = VoiceSettings(llm_provider="openai", llm_url="http://127.0.0.1:9/v1", gpu_asg_name="gpu-discover",
                           aws_endpoint_url=moto_endpoint)
        fleet = GpuFleet(vs, http)
        assert fleet.configured and fleet.discovering and fleet.urls() == {}
        assert await fleet.discover() is None  # desired 0: no node yet
        await fleet.wake()
        address = await fleet.discover()
        session = get_session()
        async with session.create_client("autoscaling", region_name="us-east-1", endpoint_url=moto_endpoint) as asg:
            groups = await asg.describe_auto_scaling_groups(AutoScalingGroupNames=["gpu-discover"])
        ids = [i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"]]
        async with session.create_client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint) as ec2:
            described = await ec2.describe_instances(InstanceIds=ids)
        expected = described["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
        assert address == expected
        fleet.address = address
        router = ProviderRouter(vs, http, Meter(None, lambda *a: 0.0), fleet)
        assert fleet.urls() == {"llm": f"http://{address}:11434", "stt": f"http://{address}:11401/v1",
                                "tts": f"http://{address}:8880/v1"}
        llm = router.gpu_provider("llm")
        assert llm.name == "gpu_ollama" and router.gpu_provider("llm") is llm  # one provider per node URL
        fleet.address = "10.0.3.99"  # the node was replaced: the provider follows the new address
        assert router.gpu_provider("llm") is not llm
