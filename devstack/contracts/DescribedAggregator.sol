// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

import {AggregatorV2V3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV2V3Interface.sol";

/// @title DescribedAggregator
/// @notice The project's own contract, used only by the local stack. Chainlink's MockV3Aggregator
/// returns a fixed description ("v0.8/tests/MockV3Aggregator.sol") that cannot be overridden, while
/// the pipeline checks each feed's description against the registry ("USDC / USD"). Chainlink's
/// package has no mock with a settable description, so this forwards every read to a
/// MockV3Aggregator (which holds the rounds) and answers the description given at deployment.
contract DescribedAggregator is AggregatorV2V3Interface {
  AggregatorV2V3Interface public immutable inner;
  string private s_description;

  constructor(AggregatorV2V3Interface _inner, string memory _description) {
    inner = _inner;
    s_description = _description;
  }

  function decimals() external view override returns (uint8) {
    return inner.decimals();
  }

  function description() external view override returns (string memory) {
    return s_description;
  }

  function version() external view override returns (uint256) {
    return inner.version();
  }

  function latestAnswer() external view override returns (int256) {
    return inner.latestAnswer();
  }

  function latestTimestamp() external view override returns (uint256) {
    return inner.latestTimestamp();
  }

  function latestRound() external view override returns (uint256) {
    return inner.latestRound();
  }

  function getAnswer(uint256 roundId) external view override returns (int256) {
    return inner.getAnswer(roundId);
  }

  function getTimestamp(uint256 roundId) external view override returns (uint256) {
    return inner.getTimestamp(roundId);
  }

  function getRoundData(
    uint80 _roundId
  ) external view override returns (uint80, int256, uint256, uint256, uint80) {
    return inner.getRoundData(_roundId);
  }

  function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
    return inner.latestRoundData();
  }
}
