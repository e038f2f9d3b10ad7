// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

interface IFactory {
    function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address);
}

interface IPool {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function fee() external view returns (uint24);
    function tickSpacing() external view returns (int24);
    function liquidity() external view returns (uint128);
    function slot0()
        external
        view
        returns (uint160 sqrtPriceX96, int24 tick, uint16, uint16, uint16, uint8, bool);
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
    function burn(int24 tickLower, int24 tickUpper, uint128 amount) external returns (uint256, uint256);
    function collect(address recipient, int24 tickLower, int24 tickUpper, uint128 amount0, uint128 amount1)
        external
        returns (uint128, uint128);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256 amount0, int256 amount1);
}

interface IToken {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// Drives real Uniswap v3 pools on the local chain: the caller pays every mint and swap from its
/// own balances (approve this contract first), through the pools' own callbacks.
///
/// `drive` puts a pool at an exact tick and in-range liquidity in one transaction: it burns the
/// caller's previous driver position (collecting the tokens back), swaps with a price limit
/// inside the target tick (with no liquidity in the way the price moves straight to the limit,
/// and the pool emits a real Swap), then mints, on the one tick-spacing range holding the tick,
/// whatever liquidity is missing up to the target. It has no constructor and no owner: the stack
/// puts its code at a fixed address.
contract PoolDriver {
    address internal constant FACTORY = 0x1F98431c8aD98523631AE4a59f267346ea31F984;

    struct Position {
        int24 lower;
        int24 upper;
        uint128 liquidity;
    }

    /// pool => caller => the caller's driver position in that pool
    mapping(address => mapping(address => Position)) public positions;

    function drive(address pool, int24 tick, uint160 sqrtPriceInTickX96, uint128 liquidity) external {
        _burn(pool);
        (uint160 price, int24 current,,,,,) = IPool(pool).slot0();
        if (current != tick) {
            _swap(pool, sqrtPriceInTickX96 < price, type(int128).max, sqrtPriceInTickX96);
            (, current,,,,,) = IPool(pool).slot0();
            require(current == tick, "PoolDriver: tick not reached");
        }
        uint128 inRange = IPool(pool).liquidity();
        require(inRange <= liquidity, "PoolDriver: others' liquidity exceeds the target");
        if (inRange < liquidity) {
            int24 spacing = IPool(pool).tickSpacing();
            int24 lower = (tick / spacing) * spacing;
            if (tick < 0 && tick % spacing != 0) lower -= spacing;
            positions[pool][msg.sender] = Position(lower, lower + spacing, liquidity - inRange);
            IPool(pool).mint(address(this), lower, lower + spacing, liquidity - inRange, abi.encode(msg.sender));
        }
    }

    function swap(address pool, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96)
        external
        returns (int256 amount0, int256 amount1)
    {
        return _swap(pool, zeroForOne, amountSpecified, sqrtPriceLimitX96);
    }

    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata data) external {
        _pay(abi.decode(data, (address)), amount0Owed, amount1Owed);
    }

    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external {
        _pay(
            abi.decode(data, (address)),
            amount0Delta > 0 ? uint256(amount0Delta) : 0,
            amount1Delta > 0 ? uint256(amount1Delta) : 0
        );
    }

    function _swap(address pool, bool zeroForOne, int256 amountSpecified, uint160 limit)
        private
        returns (int256, int256)
    {
        return IPool(pool).swap(msg.sender, zeroForOne, amountSpecified, limit, abi.encode(msg.sender));
    }

    function _burn(address pool) private {
        Position memory held = positions[pool][msg.sender];
        if (held.liquidity == 0) return;
        delete positions[pool][msg.sender];
        IPool(pool).burn(held.lower, held.upper, held.liquidity);
        IPool(pool).collect(msg.sender, held.lower, held.upper, type(uint128).max, type(uint128).max);
    }

    /// Pays a pool (only one the factory created) from `payer`'s balances.
    function _pay(address payer, uint256 amount0, uint256 amount1) private {
        IPool pool = IPool(msg.sender);
        address token0 = pool.token0();
        address token1 = pool.token1();
        require(IFactory(FACTORY).getPool(token0, token1, pool.fee()) == msg.sender, "PoolDriver: not a pool");
        if (amount0 > 0) require(IToken(token0).transferFrom(payer, msg.sender, amount0), "PoolDriver: pay0");
        if (amount1 > 0) require(IToken(token1).transferFrom(payer, msg.sender, amount1), "PoolDriver: pay1");
    }
}
