// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AgreementFactory} from "../../../contracts/AgreementFactory.sol";

/// @notice The factory with AccessControl's `_setRoleAdmin` exposed, so tests can check that changing a role's admin
///         (which the factory itself never does) cannot make the implementation's role mirror drift.
contract AgreementFactoryHarness is AgreementFactory {
    constructor(address admin) AgreementFactory(admin) {}

    function setRoleAdmin(bytes32 role, bytes32 adminRole) external {
        _setRoleAdmin(role, adminRole);
    }
}
