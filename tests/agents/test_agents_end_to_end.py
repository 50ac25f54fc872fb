"""End to end: an agent with a tool, through the OpenAI provider, against the fake server."""

from __future__ import annotations

from agent_test_helpers import EventRecorder

from realtime_agents import FunctionCallItem, item_text
from realtime_agents.agents import RealtimeAgent, RealtimeRunner, function_tool
from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel
from realtime_agents.testing.fake_server import FakeRealtimeServer, function_call, text_response


@function_tool
def get_weather(city: str) -> dict[str, str]:
    """The weather in a city.

    Args:
        city: The city name.
    """
    return {"city": city, "sky": "clear"}


async def test_agent_with_a_tool_over_a_real_socket() -> None:
    agent = RealtimeAgent(
        name="Weather", instructions="Answer weather questions.", tools=[get_weather]
    )
    async with FakeRealtimeServer() as server:
        server.script(function_call("get_weather", {"city": "Paris"}), text_response("Sunny."))
        runner = RealtimeRunner(
            agent,
            model=OpenAIRealtimeWebSocketModel(),
            config={"model_settings": {"output_modalities": ["text"]}},
        )
        session = await runner.run(model_config={"url": server.url, "api_key": "test-key"})
        events = EventRecorder(session)
        async with session:
            await session.send_message("Weather in Paris?")
            end = await events.until("tool_end")
            assert end.type == "tool_end" and end.status == "completed"
            assert end.output == '{"city":"Paris","sky":"clear"}'
            done = await events.until(
                lambda e: e.type == "transcript_done" and e.role == "assistant"
            )
            assert done.type == "transcript_done" and done.transcript == "Sunny."
            output_item = await server.wait_for("conversation.item.create", count=2)
            await events.until("agent_end", count=1)
            history = session.history
        update = server.received[0]
        assert update["type"] == "session.update"
        tools = update["session"]["tools"]
        assert [t["name"] for t in tools] == ["get_weather"]
        assert tools[0]["parameters"]["properties"]["city"]["description"] == "The city name."
        assert update["session"]["instructions"] == "Answer weather questions."
        assert output_item["item"]["type"] == "function_call_output"
        assert output_item["item"]["output"] == '{"city":"Paris","sky":"clear"}'
        assert server.received_types().count("response.create") == 2
    calls = [i for i in history if isinstance(i, FunctionCallItem)]
    assert len(calls) == 1 and calls[0].output == '{"city":"Paris","sky":"clear"}'
    assert any(item_text(i) == "Sunny." for i in history)
