// SPDX-License-Identifier: MIT
pragma solidity 0.6.6;

import "@chainlink/contracts/src/v0.6/interfaces/AggregatorV2V3Interface.sol";

/// @title OcrStyleAggregator
/// @notice The project's own contract, used only by the local stack. On mainnet a feed's current
/// phase is an OCR aggregator (AccessControlledOffchainAggregator, version 4), which Chainlink's
/// npm package 0.1.7 does not ship, and whose reads differ from the FluxAggregator of the phase
/// before it: getRoundData of a round it never had answers (roundId, 0, 0, 0, roundId) for ids up
/// to 2^32-1 and reverts above; startedAt equals updatedAt (one transmission timestamp);
/// answeredInRound equals roundId. Chainlink's MockV3Aggregator has no such bound and answers a
/// fixed description, while the pipeline checks each feed's description against the registry
/// ("USDC / USD"). This contract keeps rounds as OffchainAggregator does (answer and timestamp
/// in one slot per round, the latest round id beside) and answers reads exactly as it does. It has
/// no reporting: the local stack writes a round's storage (anvil_setStorageAt) in the block mined
/// at the round's timestamp.
contract OcrStyleAggregator is AggregatorV2V3Interface {
  struct Transmission {
    int192 answer;
    uint64 timestamp;
  }

  uint256 constant public override version = 4;
  string constant private V3_NO_DATA_ERROR = "No data present";

  uint8 public override decimals;
  uint32 internal latestAggregatorRoundId;
  string public override description;
  mapping(uint32 => Transmission) internal s_transmissions;

  constructor(uint8 _decimals, string memory _description) public {
    decimals = _decimals;
    description = _description;
  }

  function latestAnswer() external view override returns (int256) {
    return s_transmissions[latestAggregatorRoundId].answer;
  }

  function latestTimestamp() external view override returns (uint256) {
    return s_transmissions[latestAggregatorRoundId].timestamp;
  }

  function latestRound() external view override returns (uint256) {
    return latestAggregatorRoundId;
  }

  function getAnswer(uint256 _roundId) external view override returns (int256) {
    if (_roundId > 0xFFFFFFFF) {
      return 0;
    }
    return s_transmissions[uint32(_roundId)].answer;
  }

  function getTimestamp(uint256 _roundId) external view override returns (uint256) {
    if (_roundId > 0xFFFFFFFF) {
      return 0;
    }
    return s_transmissions[uint32(_roundId)].timestamp;
  }

  function getRoundData(uint80 _roundId)
    external
    view
    override
    returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
  {
    require(_roundId <= 0xFFFFFFFF, V3_NO_DATA_ERROR);
    Transmission memory transmission = s_transmissions[uint32(_roundId)];
    return (_roundId, transmission.answer, transmission.timestamp, transmission.timestamp, _roundId);
  }

  function latestRoundData()
    external
    view
    override
    returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
  {
    roundId = latestAggregatorRoundId;
    Transmission memory transmission = s_transmissions[uint32(roundId)];
    return (roundId, transmission.answer, transmission.timestamp, transmission.timestamp, roundId);
  }
}
